package access_test

import (
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
)

// TestStatsCountDecisions: every answer of Authorize is counted once, by the
// action's plane and the answer; Decide (listings, checkAccess) is not.
func TestStatsCountDecisions(t *testing.T) {
	e := newEnv(t)
	reader := e.principal("reader")
	e.assign(reader, "Key Vault Secrets User", "/hubs/h/vaults/v")
	const vaultScope, secretScope = "/hubs/h/vaults/v", "/hubs/h/vaults/v/secrets/s"
	tests := []struct {
		name              string
		principal, action string
		scope             string
		want              access.Stats
	}{
		{"control allowed", e.admin, access.VaultsRead, vaultScope, access.Stats{Control: access.PlaneStats{Allowed: 1}}},
		{"control denied", reader, access.VaultsRead, vaultScope, access.Stats{Control: access.PlaneStats{Denied: 1}}},
		{"data allowed", reader, access.SecretsGet, secretScope, access.Stats{Data: access.PlaneStats{Allowed: 1}}},
		{"data denied", reader, access.SecretsSet, secretScope, access.Stats{Data: access.PlaneStats{Denied: 1}}},
		{"data denied elsewhere", reader, access.SecretsGet, "/hubs/h/vaults/w/secrets/s", access.Stats{Data: access.PlaneStats{Denied: 1}}},
		{"unknown action", e.admin, "Latchkey.Nothing/at/all", vaultScope, access.Stats{UnknownAction: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.svc.Stats()
			err := e.svc.Authorize(t.Context(), tc.principal, tc.action, tc.scope)
			allowed := tc.want.Control.Allowed+tc.want.Data.Allowed == 1
			if allowed != (err == nil) || (!allowed && errs.KindOf(err) != errs.Forbidden) {
				t.Fatalf("Authorize = %v, want allowed %v", err, allowed)
			}
			if got := sub(e.svc.Stats(), before); got != tc.want {
				t.Errorf("Stats changed by %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("concurrent decisions all counted", func(t *testing.T) {
		before := e.svc.Stats()
		const workers, each = 4, 250
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					if err := e.svc.Authorize(t.Context(), reader, access.SecretsGet, secretScope); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if got, want := sub(e.svc.Stats(), before), (access.Stats{Data: access.PlaneStats{Allowed: workers * each}}); got != want {
			t.Errorf("Stats changed by %+v, want %+v", got, want)
		}
	})
	t.Run("Decide is not counted", func(t *testing.T) {
		before := e.svc.Stats()
		e.svc.Decide(reader, access.SecretsGet, secretScope)
		e.svc.Decide(reader, access.VaultsRead, vaultScope)
		if got := sub(e.svc.Stats(), before); got != (access.Stats{}) {
			t.Errorf("Decide changed Stats by %+v", got)
		}
	})
}

// sub returns the counts of a less those of b.
func sub(a, b access.Stats) access.Stats {
	return access.Stats{
		Control:       access.PlaneStats{Allowed: a.Control.Allowed - b.Control.Allowed, Denied: a.Control.Denied - b.Control.Denied},
		Data:          access.PlaneStats{Allowed: a.Data.Allowed - b.Data.Allowed, Denied: a.Data.Denied - b.Data.Denied},
		UnknownAction: a.UnknownAction - b.UnknownAction,
	}
}
