package audit_test

import (
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

func TestQuery(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{})
	denied := event(1)
	denied.Result, denied.Status, denied.Reason = audit.Denied, 403, "no role grants getSecret at /hubs/h2/vaults/w"
	denied.Scope, denied.PrincipalID = "/hubs/h2/vaults/w", "other"
	write := event(2)
	write.Operation = "Latchkey.KeyVault/vaults/secrets/setSecret/action"
	for _, e := range []audit.Event{event(0), denied, write} {
		w.Enqueue(e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"all", audit.Filter{}, []string{"req-000000", "req-000001", "req-000002"}},
		{"newest first", audit.Filter{Newest: true}, []string{"req-000002", "req-000001", "req-000000"}},
		{"denied", audit.Filter{Result: audit.Denied}, []string{"req-000001"}},
		{"principal", audit.Filter{PrincipalID: "other"}, []string{"req-000001"}},
		{"scope", audit.Filter{Scope: "/hubs/h"}, []string{"req-000000", "req-000002"}},
		{"operation", audit.Filter{Operation: "Latchkey.KeyVault/vaults/secrets/set"}, []string{"req-000002"}},
		{"since", audit.Filter{Since: event(1).Time}, []string{"req-000001", "req-000002"}},
		{"until", audit.Filter{Until: event(1).Time}, []string{"req-000000"}},
	}
	for _, tc := range cases {
		entries, next, err := audit.Query(t.Context(), st, tc.f, store.Page{})
		var got []string
		for _, e := range entries {
			got = append(got, e.CorrelationID)
		}
		if err != nil || next != "" || !slices.Equal(got, tc.want) {
			t.Errorf("%s: Query(%+v) = %v, %q, %v; want %v", tc.name, tc.f, got, next, err, tc.want)
		}
	}
	entries, _, err := audit.Query(t.Context(), st, audit.Filter{Result: audit.Denied}, store.Page{})
	if err != nil || len(entries) != 1 || entries[0].Seq != 2 || entries[0].Event != denied {
		t.Errorf("Query(denied) = %+v, %v; want event %+v at seq 2", entries, err, denied)
	}
	invalid := []struct {
		name string
		f    audit.Filter
		p    store.Page
	}{
		{"unknown result", audit.Filter{Result: "ok"}, store.Page{}},
		{"scope not a path", audit.Filter{Scope: "hubs/h"}, store.Page{}},
		{"until before since", audit.Filter{Since: time.Now(), Until: time.Now().Add(-time.Hour)}, store.Page{}},
		{"foreign cursor", audit.Filter{}, store.Page{After: "not*base64"}},
	}
	for _, tc := range invalid {
		if _, _, err := audit.Query(t.Context(), st, tc.f, tc.p); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: Query = %v, want Invalid", tc.name, err)
		}
	}
}
