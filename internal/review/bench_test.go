package review_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/review"
)

// BenchmarkReview measures a whole review on SQLite: 100 service
// principals with two assignments each, and 20,000 events in the period
// (sign-ins, secret reads, denials, from 50 addresses). ns/event is the
// time per event of the trail, reading included.
func BenchmarkReview(b *testing.B) {
	const principals, perPrincipal = 100, 200
	e := newEnv(b, openSQLite(b))
	e.resources("/hubs/h", "/hubs/h/vaults/v", "/hubs/h/vaults/v2")
	for i := range principals {
		p := e.sp(fmt.Sprintf("sp-%d", i), grant{"Key Vault Secrets User", "/hubs/h/vaults/v"}, grant{"Key Vault Secrets User", "/hubs/h/vaults/v2"})
		for j := range perPrincipal {
			ev := audit.Event{Time: ago(29 * day).Add(time.Duration(j*principals+i) * time.Second), PrincipalID: p.ID, PrincipalName: p.Name,
				ClientIP: netip.AddrFrom4([4]byte{10, 0, byte(i % 50), 1}), Result: audit.Allowed, Status: 200}
			switch j % 4 {
			case 0:
				ev.Operation = audit.TokenOperation
			case 1, 2:
				ev.Operation, ev.Scope = access.SecretsGet, fmt.Sprintf("/hubs/h/vaults/v/secrets/s%d", j%20)
			case 3:
				ev.Operation, ev.Scope, ev.Result, ev.Status = access.SecretsGet, "/hubs/h/vaults/v2/secrets/x", audit.Denied, 403
			}
			e.events = append(e.events, ev)
		}
	}
	e.writeTrail()
	svc := e.reviewer(review.Options{})
	b.ReportAllocs()
	for b.Loop() {
		fs, err := svc.Review(b.Context(), 30, "/")
		if err != nil || len(fs) == 0 {
			b.Fatalf("Review = %d findings, %v", len(fs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(principals*perPrincipal), "ns/event")
}
