package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/store"
)

// auditEvents returns the stored events of operation, oldest first.
func (e *kvEnv) auditEvents(operation string) []audit.Entry {
	e.t.Helper()
	es, _, err := audit.Query(context.Background(), e.db, audit.Filter{Operation: operation}, store.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// TestAuditTrail: a write's event is stored before its response, a read's
// soon after, a denial is recorded as one, and no secret value reaches the
// trail.
func TestAuditTrail(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	const canary = "canary-value-7f3a9"
	e.setSecret(e.admin, "default", "db", canary)

	// The write's event is there the moment the response arrived.
	sets := e.auditEvents(access.SecretsSet)
	if len(sets) != 1 {
		t.Fatalf("after the set returned, %d set events are stored, want 1", len(sets))
	}
	ev := sets[0].Event
	if ev.Result != audit.Allowed || ev.Status != http.StatusOK || ev.PrincipalID != e.admin.ID ||
		ev.Scope != "/hubs/default/vaults/default/secrets/db" || ev.CorrelationID == "" || !ev.ClientIP.IsLoopback() {
		t.Errorf("set event = %+v", ev)
	}

	if got := e.getSecret(e.admin, "default", "db"); got != http.StatusOK {
		t.Fatalf("get = %d", got)
	}
	stranger := e.principal("stranger")
	if got := e.getSecret(stranger, "default", "db"); got != http.StatusForbidden {
		t.Fatalf("stranger's get = %d, want 403", got)
	}
	var gets []audit.Entry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if gets = e.auditEvents(access.SecretsGet); len(gets) >= 2 {
			break
		}
	}
	if len(gets) != 2 {
		t.Fatalf("%d get events stored, want 2 (one allowed, one denied)", len(gets))
	}
	if a, d := gets[0].Event, gets[1].Event; a.Result != audit.Allowed || d.Result != audit.Denied || d.PrincipalID != stranger.ID || d.Status != http.StatusForbidden || d.Reason == "" {
		t.Errorf("get events = %+v / %+v, want allowed then denied with a reason", a, d)
	}

	tokens := e.auditEvents("Latchkey.Identity/token/action")
	if len(tokens) == 0 {
		t.Error("no token issue was recorded")
	}
	v, err := audit.Verify(context.Background(), e.db)
	if err != nil || !v.Intact() {
		t.Errorf("Verify = %+v, %v, want an intact chain", v, err)
	}
	for _, op := range []string{"", access.SecretsSet, access.SecretsGet} {
		for _, en := range e.auditEvents(op) {
			if strings.Contains(en.Event.Reason+en.Event.Scope+en.Event.PrincipalName, canary) {
				t.Errorf("the secret value reached the audit trail: %+v", en.Event)
			}
		}
	}
}
