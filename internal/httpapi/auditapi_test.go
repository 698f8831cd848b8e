package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver of the second connection that tampers with the file

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/store"
)

// The audit trail's and the access review's management API, over HTTPS with
// the Go client, decided by the real access service.

// waitEvent waits until the trail holds an event of operation with result:
// reads are enqueued, so their events land a moment after the response.
func (e *kvEnv) waitEvent(operation string, result audit.Result) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		es, _, err := audit.Query(context.Background(), e.db, audit.Filter{Operation: operation, Result: result}, store.Page{Limit: 1})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(es) > 0 {
			return
		}
	}
	e.t.Fatalf("no %s event of %s reached the trail", result, operation)
}

// trailLen is the number of events stored so far.
func (e *kvEnv) trailLen() int {
	e.t.Helper()
	h, err := e.db.AuditHead(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return int(h.Seq)
}

// allEvents lists every page of the events f selects, as c.
func allEvents(t *testing.T, c *client.Client, f client.AuditFilter, top int) []client.AuditEvent {
	t.Helper()
	var all []client.AuditEvent
	p := client.AuditPage{Top: top}
	for {
		es, next, err := c.AuditEvents(t.Context(), f, p)
		if err != nil {
			t.Fatalf("AuditEvents(%+v, %+v) = %v", f, p, err)
		}
		all = append(all, es...)
		if next.SkipToken == "" {
			return all
		}
		p = next
	}
}

func TestAuditEventsAPI(t *testing.T) {
	clk := newFakeClock()
	e := newKVEnv(t, clk)
	ctx := t.Context()
	start := clk.Now()

	// Phase one: secrets set in two vaults, a denied read.
	e.setSecret(e.admin, "default", "db", "v1")
	e.setSecret(e.admin, "other", "db", "v2")
	stranger := e.principal("stranger")
	if got := e.getSecret(stranger, "default", "db"); got != http.StatusForbidden {
		t.Fatalf("stranger's read = %d", got)
	}
	// Phase two, an hour later: another set, a read.
	clk.Advance(time.Hour)
	e.setSecret(e.admin, "default", "api", "v3")
	if got := e.getSecret(e.admin, "default", "api"); got != http.StatusOK {
		t.Fatalf("admin's read = %d", got)
	}
	admin := e.managementClient(e.admin)          // a token of the hour it is now
	e.waitEvent(access.SecretsGet, audit.Allowed) // the last read's event
	e.waitEvent(access.SecretsGet, audit.Denied)
	total := e.trailLen()

	everything := allEvents(t, admin, client.AuditFilter{}, 0)
	if len(everything) < total || len(everything) > total+2 { // the listing's own events may join
		t.Fatalf("AuditEvents() = %d events, want the %d stored", len(everything), total)
	}
	for i := 1; i < len(everything); i++ {
		if everything[i].Seq <= everything[i-1].Seq {
			t.Fatalf("events out of order: %d after %d", everything[i].Seq, everything[i-1].Seq)
		}
	}
	if !slices.ContainsFunc(everything, func(ev client.AuditEvent) bool { return ev.Operation == audit.TokenOperation && ev.Scope == "" }) {
		t.Error("the listing at / lacks the token requests, which have no scope")
	}

	cases := []struct {
		name string
		f    client.AuditFilter
		ok   func(client.AuditEvent) bool // what every event listed must satisfy
		want int                          // how many events at least
	}{
		{"denied", client.AuditFilter{Result: "denied"},
			func(ev client.AuditEvent) bool { return ev.Result == "denied" && ev.Status == 403 && ev.Reason != "" }, 1},
		{"principal by appId", client.AuditFilter{Principal: stranger.AppID},
			func(ev client.AuditEvent) bool { return ev.PrincipalID == stranger.ID }, 2}, // its token and its read
		{"principal by object id", client.AuditFilter{Principal: stranger.ID},
			func(ev client.AuditEvent) bool { return ev.PrincipalID == stranger.ID }, 2},
		{"operation prefix", client.AuditFilter{Operation: "Latchkey.KeyVault/vaults/secrets/set"},
			func(ev client.AuditEvent) bool { return ev.Operation == access.SecretsSet }, 3},
		{"scope subtree", client.AuditFilter{Scope: "/hubs/default/vaults/default"},
			func(ev client.AuditEvent) bool {
				return strings.HasPrefix(ev.Scope, "/hubs/default/vaults/default/") || ev.Scope == "/hubs/default/vaults/default"
			}, 4},
		{"scope in another case", client.AuditFilter{Scope: "/HUBS/default/vaults/OTHER"},
			func(ev client.AuditEvent) bool { return ev.Scope == "/hubs/default/vaults/other/secrets/db" }, 1},
		{"since", client.AuditFilter{Since: start.Add(30 * time.Minute)},
			func(ev client.AuditEvent) bool { return !ev.Time.Before(start.Add(30 * time.Minute)) }, 3},
		{"until", client.AuditFilter{Until: start.Add(30 * time.Minute), Operation: access.SecretsSet},
			func(ev client.AuditEvent) bool {
				return ev.Time.Before(start.Add(30*time.Minute)) && ev.Operation == access.SecretsSet
			}, 2},
		{"result, principal and scope", client.AuditFilter{Result: "denied", Principal: stranger.AppID, Scope: "/hubs/default"},
			func(ev client.AuditEvent) bool {
				return ev.Result == "denied" && ev.PrincipalID == stranger.ID && ev.Scope == "/hubs/default/vaults/default/secrets/db"
			}, 1},
	}
	for _, tc := range cases {
		got := allEvents(t, admin, tc.f, 0)
		if len(got) < tc.want {
			t.Errorf("%s: %d events, want at least %d", tc.name, len(got), tc.want)
		}
		for _, ev := range got {
			if !tc.ok(ev) {
				t.Errorf("%s: listed %+v", tc.name, ev)
			}
		}
		// Every event of the earlier full listing that the filter selects is
		// listed again (later listings' own events may join).
		if n := count(everything, tc.ok); len(got) < n {
			t.Errorf("%s: %d events, but the full listing holds %d that match", tc.name, len(got), n)
		}
	}
	if got := allEvents(t, admin, client.AuditFilter{Until: start.Add(30 * time.Minute), Operation: access.SecretsSet}, 0); len(got) != 2 {
		t.Errorf("sets before the hour = %d, want 2", len(got))
	}
	if got := allEvents(t, admin, client.AuditFilter{Since: start.Add(30 * time.Minute), Operation: access.SecretsSet}, 0); len(got) != 1 {
		t.Errorf("sets after the hour = %d, want 1", len(got))
	}

	// Paging: pages of 2 list the same events as one page of 1000.
	paged := allEvents(t, admin, client.AuditFilter{Until: start.Add(30 * time.Minute)}, 2)
	whole := allEvents(t, admin, client.AuditFilter{Until: start.Add(30 * time.Minute)}, 1000)
	if len(paged) < 4 || !slices.EqualFunc(paged, whole, func(a, b client.AuditEvent) bool { return a.Seq == b.Seq }) {
		t.Errorf("pages of 2 = %d events, one page = %d: they differ", len(paged), len(whole))
	}
	first, next, err := admin.AuditEvents(ctx, client.AuditFilter{}, client.AuditPage{Top: 1})
	if err != nil || len(first) != 1 || next.SkipToken == "" || next.Top != 1 {
		t.Errorf("AuditEvents(top 1) = %v, %+v, %v; want one event and a next page", first, next, err)
	}
	newest, _, err := admin.AuditEvents(ctx, client.AuditFilter{Newest: true}, client.AuditPage{Top: 3})
	if err != nil || len(newest) != 3 || newest[0].Seq <= newest[2].Seq {
		t.Errorf("AuditEvents(newest, top 3) = %+v, %v; want the three newest, newest first", newest, err)
	}
}

// TestAuditEventsWire pins the JSON names of the listing and refuses bad
// parameters with 400 naming them.
func TestAuditEventsWire(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	e.setSecret(e.admin, "default", "db", "v1")
	tok := e.token(e.admin, client.ManagementAudience)
	base := strings.TrimSuffix(e.authorityHost(), "/")
	get := func(path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := get("/api/v1/auditEvents?top=1&operation=" + url.QueryEscape(access.SecretsSet))
	if status != http.StatusOK {
		t.Fatalf("GET auditEvents = %d %s", status, body)
	}
	var page struct {
		Value    []map[string]any `json:"value"`
		NextLink *string          `json:"nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Value) != 1 {
		t.Fatalf("GET auditEvents body %s: %v", body, err)
	}
	for _, k := range []string{"seq", "time", "correlationId", "principalId", "principalType", "principalName", "authMethod", "clientIp", "operation", "scope", "result", "status"} {
		if _, ok := page.Value[0][k]; !ok {
			t.Errorf("an event lacks %q: %s", k, body)
		}
	}
	if tm, _ := page.Value[0]["time"].(string); !strings.HasSuffix(tm, "Z") {
		t.Errorf("time %q is not RFC 3339 in UTC", tm)
	}

	bad := []struct{ query, target string }{
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"result=ok", "result"},
		{"top=0", "top"},
		{"top=1001", "top"},
		{"scope=hubs/default", "scope"},
		{"order=random", "order"},
		{"skipToken=not-ours", "skipToken"},
		{"since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
	}
	for _, tc := range bad {
		status, body := get("/api/v1/auditEvents?" + tc.query)
		var eb client.ErrorBody
		if status != http.StatusBadRequest || json.Unmarshal(body, &eb) != nil || eb.Error.Target != tc.target || eb.Error.Message == "" {
			t.Errorf("?%s = %d %s, want 400 naming %q", tc.query, status, body, tc.target)
		}
	}

	status, body = get("/api/v1/auditTrail/verify")
	var v map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("GET auditTrail/verify = %d %s", status, body)
	}
	for _, k := range []string{"intact", "batches", "events", "head"} {
		if _, ok := v[k]; !ok {
			t.Errorf("the verification lacks %q: %s", k, body)
		}
	}
}

// TestAuditAuthorization: listing needs auditEvents/read at the scope asked,
// and shows nothing above it; verification needs it at "/".
func TestAuditAuthorization(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := t.Context()
	e.setSecret(e.admin, "default", "db", "v1")
	e.setSecret(e.admin, "other", "db", "v2")
	hubReaderID := e.principal("hub-reader", grant{"Reader", "/hubs/default"})
	hubReader := e.managementClient(hubReaderID)
	vaultReader := e.managementClient(e.principal("vault-reader", grant{"Reader", "/hubs/default/vaults/other"}))
	nobody := e.managementClient(e.principal("nobody"))

	_, _, err := hubReader.AuditEvents(ctx, client.AuditFilter{}, client.AuditPage{})
	wantStatus(t, "a hub's Reader listing /", err, http.StatusForbidden)
	_, _, err = hubReader.AuditEvents(ctx, client.AuditFilter{Scope: "/hubs/other-hub"}, client.AuditPage{})
	wantStatus(t, "a hub's Reader listing another hub", err, http.StatusForbidden)
	got := allEvents(t, hubReader, client.AuditFilter{Scope: "/hubs/default"}, 0)
	if len(got) < 2 {
		t.Errorf("a hub's Reader listing its hub = %d events, want both sets at least", len(got))
	}
	for _, ev := range got {
		if !strings.HasPrefix(ev.Scope, "/hubs/default/") && ev.Scope != "/hubs/default" {
			t.Errorf("a hub's Reader sees an event at %q", ev.Scope)
		}
	}
	got = allEvents(t, vaultReader, client.AuditFilter{Scope: "/hubs/default/vaults/other"}, 0)
	if len(got) == 0 || slices.ContainsFunc(got, func(ev client.AuditEvent) bool { return !strings.HasPrefix(ev.Scope, "/hubs/default/vaults/other") }) {
		t.Errorf("a vault's Reader listing its vault = %+v", got)
	}
	_, _, err = vaultReader.AuditEvents(ctx, client.AuditFilter{Scope: "/hubs/default/vaults/default"}, client.AuditPage{})
	wantStatus(t, "a vault's Reader listing its sibling", err, http.StatusForbidden)
	_, _, err = nobody.AuditEvents(ctx, client.AuditFilter{Scope: "/hubs/default"}, client.AuditPage{})
	wantStatus(t, "a principal without roles listing a hub", err, http.StatusForbidden)

	_, err = hubReader.VerifyAuditTrail(ctx)
	wantStatus(t, "a hub's Reader verifying the trail", err, http.StatusForbidden)
	if v, err := e.managementClient(e.admin).VerifyAuditTrail(ctx); err != nil || !v.Intact {
		t.Errorf("the admin verifying = %+v, %v", v, err)
	}

	_, err = hubReader.AccessReview(ctx, 30, "/")
	wantStatus(t, "a hub's Reader reviewing /", err, http.StatusForbidden)
	if _, err := hubReader.AccessReview(ctx, 30, "/hubs/default"); err != nil {
		t.Errorf("a hub's Reader reviewing its hub = %v", err)
	}
	_, err = nobody.AccessReview(ctx, 30, "/hubs/default")
	wantStatus(t, "a principal without roles reviewing a hub", err, http.StatusForbidden)

	// The listings were themselves audited.
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, _, err := audit.Query(ctx, e.db, audit.Filter{Operation: access.AuditEventsRead}, store.Page{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		// A denial by the route's authorization names who was denied.
		if slices.ContainsFunc(es, func(en audit.Entry) bool {
			return en.Result == audit.Denied && en.Scope == "/" && en.PrincipalID == hubReaderID.ID && en.Status == http.StatusForbidden
		}) &&
			slices.ContainsFunc(es, func(en audit.Entry) bool { return en.Result == audit.Allowed && en.Scope == "/hubs/default" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit listings left no events, allowed at /hubs/default and denied at / naming the caller: %+v", es)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestVerifyAuditTrailAPI: intact on a clean trail; after one byte of one
// event changed in the SQLite file through another connection, broken at
// that event.
func TestVerifyAuditTrailAPI(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := t.Context()
	admin := e.managementClient(e.admin)
	e.setSecret(e.admin, "default", "db", "v1")
	e.setSecret(e.admin, "default", "db2", "v2")
	v, err := admin.VerifyAuditTrail(ctx)
	if err != nil || !v.Intact || v.Events < 3 || len(v.Head) != 64 || v.Broken != nil {
		t.Fatalf("VerifyAuditTrail on a clean trail = %+v, %v", v, err)
	}
	raw, err := sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	set := allEvents(t, admin, client.AuditFilter{Operation: string(access.SecretsSet)}, 0)
	if len(set) == 0 {
		t.Fatal("no setSecret event listed")
	}
	seq := set[0].Seq
	var batch int64
	var blob []byte
	err = raw.QueryRowContext(ctx, `SELECT batch, events FROM audit_batches WHERE first_seq <= $1 AND last_seq >= $1`, seq).Scan(&batch, &blob)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(blob, []byte(set[0].CorrelationID)) // no other event shares it
	if at < 0 {
		t.Fatalf("event %d's correlation id is not in its batch's stored events", seq)
	}
	changed := bytes.Clone(blob)
	changed[at] ^= 1
	if _, err := raw.ExecContext(ctx, `UPDATE audit_batches SET events = $1 WHERE batch = $2`, changed, batch); err != nil {
		t.Fatal(err)
	}
	v, err = admin.VerifyAuditTrail(ctx)
	if err != nil || v.Intact || v.Broken == nil || v.Broken.Seq != seq || v.Broken.Batch != batch || v.Broken.Reason == "" {
		t.Fatalf("VerifyAuditTrail after event %d changed = %+v (broken %+v), %v; want it named", seq, v, v.Broken, err)
	}
	if _, err := raw.ExecContext(ctx, `UPDATE audit_batches SET events = $1 WHERE batch = $2`, blob, batch); err != nil {
		t.Fatal(err)
	}
	if v, err = admin.VerifyAuditTrail(ctx); err != nil || !v.Intact {
		t.Errorf("VerifyAuditTrail after the byte was put back = %+v, %v", v, err)
	}
}

// TestAccessReviewAPI: findings made by the clock moving on, through the
// client and as JSON; bad parameters refused naming them.
func TestAccessReviewAPI(t *testing.T) {
	clk := newFakeClock()
	e := newKVEnv(t, clk)
	ctx := t.Context()
	idle := e.principal("idle", grant{"Key Vault Secrets User", "/hubs/default/vaults/other"})
	e.setSecret(e.admin, "default", "db", "v1")
	exp := e.do("PUT", e.vaultURL("default")+"/secrets/soon?api-version=2025-07-01", e.token(e.admin, e.resource()),
		`{"value":"v2","attributes":{"exp":`+itoa(clk.Now().Add(10*24*time.Hour).Unix())+`}}`)
	if exp.status != http.StatusOK {
		t.Fatalf("set soon = %d %s", exp.status, exp.body)
	}
	clk.Advance(2 * 24 * time.Hour)
	admin := e.managementClient(e.admin)
	fs, err := admin.AccessReview(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, subject string) *client.AccessFinding {
		for i := range fs {
			if fs[i].Kind == kind && fs[i].Subject == subject {
				return &fs[i]
			}
		}
		return nil
	}
	if f := find("unusedIdentity", idle.ID); f == nil || f.Severity != "medium" || f.Scope != "/" || !strings.Contains(f.Suggestion, "latchkey sp delete --id "+idle.AppID) {
		t.Errorf("unusedIdentity of idle = %+v in %+v", f, fs)
	}
	if f := find("unusedAssignment", e.assignmentOf(idle)); f == nil || f.Scope != "/hubs/default/vaults/other" {
		t.Errorf("unusedAssignment of idle = %+v", f)
	}
	if f := find("expiringSecret", "/hubs/default/vaults/default/secrets/soon"); f == nil || f.Severity != "medium" || !strings.Contains(f.Detail, "in 8 days") {
		t.Errorf("expiringSecret soon = %+v", f)
	}
	if f := find("unreadSecret", "/hubs/default/vaults/default/secrets/db"); f == nil || f.Severity != "low" {
		t.Errorf("unreadSecret db = %+v", f)
	}
	for i := 1; i < len(fs); i++ {
		if rank(fs[i].Severity) < rank(fs[i-1].Severity) {
			t.Errorf("findings not most severe first: %s after %s", fs[i].Severity, fs[i-1].Severity)
		}
	}
	scoped, err := admin.AccessReview(ctx, 1, "/hubs/default/vaults/other")
	if err != nil || len(scoped) != 1 || scoped[0].Kind != "unusedAssignment" {
		t.Errorf("AccessReview at the vault other = %+v, %v; want idle's assignment only", scoped, err)
	}

	tok := e.token(e.admin, client.ManagementAudience)
	base := strings.TrimSuffix(e.authorityHost(), "/")
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := get("/api/v1/accessReview?days=1")
	var page struct {
		Value []map[string]any `json:"value"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Value) == 0 {
		t.Fatalf("GET accessReview = %d %s", status, body)
	}
	for _, k := range []string{"kind", "severity", "subject", "scope", "detail", "suggestion"} {
		if _, ok := page.Value[0][k]; !ok {
			t.Errorf("a finding lacks %q: %s", k, body)
		}
	}
	for _, tc := range []struct{ query, target string }{
		{"days=0", "days"}, {"days=366", "days"}, {"days=week", "days"}, {"scope=/hubs/default/keys/k", "scope"},
	} {
		status, body := get("/api/v1/accessReview?" + tc.query)
		var eb client.ErrorBody
		if status != http.StatusBadRequest || json.Unmarshal(body, &eb) != nil || eb.Error.Target != tc.target {
			t.Errorf("?%s = %d %s, want 400 naming %q", tc.query, status, body, tc.target)
		}
	}
}

// assignmentOf returns the id of p's only role assignment.
func (e *kvEnv) assignmentOf(p kvPrincipal) string {
	e.t.Helper()
	as, _, err := e.access.Assignments(context.Background(), store.AssignmentFilter{PrincipalID: p.ID}, store.Page{})
	if err != nil || len(as) != 1 {
		e.t.Fatalf("assignments of %s = %v, %v", p.ID, as, err)
	}
	return as[0].ID
}

func count(es []client.AuditEvent, ok func(client.AuditEvent) bool) int {
	n := 0
	for _, ev := range es {
		if ok(ev) {
			n++
		}
	}
	return n
}

func rank(severity string) int { return strings.Index("high medium low", severity) }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
