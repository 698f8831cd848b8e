package access

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/store"
)

// The benchmark tenant: 100,000 principals with 10 assignments each, over
// 100 hubs of 50 vaults, 5 projects and 2 accounts.
const (
	benchPrincipals   = 100_000
	benchPerPrincipal = 10
	benchHubs         = 100
	benchVaultsPerHub = 50
)

// benchTenant is the input of the benchmarks: the stored assignments, and
// queries whose answers are known.
type benchTenant struct {
	assignments []store.RoleAssignment
	allowed     []benchQuery // SecretsGet on a secret of a vault where the principal holds Key Vault Secrets User
	elsewhere   []benchQuery // SecretsGet on a vault where the principal holds nothing
	notGranted  []benchQuery // RoleAssignmentsWrite on that same vault: the scope matches, no role of the mix grants it
}

type benchQuery struct{ principal, action, scope string }

// newBenchTenant makes the assignments with a fixed seed. Every string is
// its own allocation, as rows read from the store are.
func newBenchTenant() *benchTenant {
	rng := rand.New(rand.NewPCG(2026, 11))
	id := func() string {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(rng.Uint32())
		}
		return u.String()
	}
	hub := func() int { return rng.IntN(benchHubs) }
	vaultScope := func(h, v int) string { return fmt.Sprintf("/hubs/hub-%03d/vaults/kv-%03d-%02d", h, h, v) }
	vaultRoles := []string{KeyVaultSecretsUserID, KeyVaultSecretsUserID, KeyVaultSecretsOfficerID, KeyVaultReaderID, ReaderID, ContributorID}
	hubRoles := []string{ReaderID, ContributorID, CognitiveServicesUserID, AzureAIDeveloperID, CognitiveServicesContributorID}
	pick := func(ids []string) string { return string([]byte(ids[rng.IntN(len(ids))])) } // a copy, as a row's column is

	tn := &benchTenant{assignments: make([]store.RoleAssignment, 0, benchPrincipals*benchPerPrincipal)}
	for range benchPrincipals {
		p := id()
		add := func(role, scope string) {
			tn.assignments = append(tn.assignments, store.RoleAssignment{ID: id(), PrincipalID: p, RoleID: role, Scope: scope})
		}
		for range benchPerPrincipal - 1 {
			h := hub()
			switch n := rng.IntN(10); {
			case n < 6:
				add(pick(vaultRoles), vaultScope(h, rng.IntN(benchVaultsPerHub)))
			case n < 8:
				add(pick(hubRoles), fmt.Sprintf("/hubs/hub-%03d", h))
			case n < 9:
				add(pick([]string{AzureAIDeveloperID, ReaderID}), fmt.Sprintf("/hubs/hub-%03d/projects/proj-%d", h, rng.IntN(5)))
			default:
				add(pick(vaultRoles), vaultScope(h, rng.IntN(benchVaultsPerHub))+fmt.Sprintf("/secrets/secret-%d", rng.IntN(20)))
			}
		}
		// The last assignment, which Decide reaches last, is the one the
		// allowed query needs.
		h, v := hub(), rng.IntN(benchVaultsPerHub)
		add(string([]byte(KeyVaultSecretsUserID)), vaultScope(h, v))
		tn.allowed = append(tn.allowed, benchQuery{p, SecretsGet, vaultScope(h, v) + "/secrets/db-password"})
		// Hub 100 does not exist: nobody holds anything there.
		tn.elsewhere = append(tn.elsewhere, benchQuery{p, SecretsGet, vaultScope(benchHubs, v)})
		tn.notGranted = append(tn.notGranted, benchQuery{p, RoleAssignmentsWrite, vaultScope(h, v)})
	}
	shuffle := func(qs []benchQuery) { rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] }) }
	shuffle(tn.allowed)
	shuffle(tn.elsewhere)
	shuffle(tn.notGranted)
	compact(tn.allowed)
	compact(tn.elsewhere)
	compact(tn.notGranted)
	return tn
}

// compact copies the queries' strings next to each other, in query order. A
// request's principal and scope come off the wire, so they are in cache when
// it is decided; queries pointing into the whole heap would charge Decide for
// cache misses a server does not have.
func compact(qs []benchQuery) {
	for i := range qs {
		buf := []byte(qs[i].principal + qs[i].scope)
		n := len(qs[i].principal)
		qs[i].principal, qs[i].scope = string(buf[:n]), string(buf[n:])
	}
}

// buildIndex builds the decision index from stored assignments the way
// Service.rebuild does once it has read them.
func buildIndex(as []store.RoleAssignment) *index {
	x := &index{}
	t := x.ticket()
	x.setRoles(map[string]*compiledRole{}, t)
	byPrincipal := map[string]*principalGrants{}
	for _, a := range as {
		pg := byPrincipal[a.PrincipalID]
		if pg == nil {
			pg = &principalGrants{}
			byPrincipal[a.PrincipalID] = pg
		}
		pg.add(a)
	}
	x.load(byPrincipal, t)
	return x
}

var benchNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// BenchmarkDecide measures one decision served from an index of 1,000,000
// assignments, cycling through every principal in random order: Decide with
// its reason, and the allowed path of Authorize, which writes none.
func BenchmarkDecide(b *testing.B) {
	tn := newBenchTenant()
	x := buildIndex(tn.assignments)
	tn.assignments = nil
	cases := []struct {
		name    string
		queries []benchQuery
		want    bool
	}{
		{"allowed", tn.allowed, true},
		{"denied/elsewhere", tn.elsewhere, false},
		{"denied/not-granted", tn.notGranted, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				q := tc.queries[i%len(tc.queries)]
				i++
				if d := x.decide(q.principal, q.action, q.scope, benchNow); d.Allowed != tc.want {
					b.Fatalf("Decide(%s, %s, %s) = %+v, want allowed %v", q.principal, q.action, q.scope, d, tc.want)
				}
			}
		})
	}
	// Authorize's allowed path: the same evaluation, with no reason written;
	// over every principal, and over 64 whose grants stay in cache.
	for _, tc := range []struct {
		name    string
		queries []benchQuery
	}{{"authorize/allowed", tn.allowed}, {"authorize/allowed-hot", tn.allowed[:64]}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				q := tc.queries[i%len(tc.queries)]
				i++
				if v := x.evaluate(q.principal, q.action, q.scope, benchNow); !v.allowed {
					b.Fatalf("evaluate(%s, %s, %s) denied, want allowed", q.principal, q.action, q.scope)
				}
			}
		})
	}
}

// BenchmarkIndexBuild measures building the index of 1,000,000 assignments
// from rows already read (ns/op), and the heap the index keeps, its strings
// included (MB-index, B/assignment).
func BenchmarkIndexBuild(b *testing.B) {
	var before, after runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		tn := newBenchTenant()
		as := tn.assignments
		tn = nil
		b.StartTimer()

		x := buildIndex(as)

		b.StopTimer()
		as = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(x)
		b.StartTimer()
	}
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	b.ReportMetric(heap/1e6, "MB-index")
	b.ReportMetric(heap/(benchPrincipals*benchPerPrincipal), "B/assignment")
}

// BenchmarkDecideLatency times 1,000,000 decisions one by one, in batches of
// 1,000 mixing allowed and denied queries over random principals, and reports
// their percentiles in ns (the cost of reading the clock included; timer-ns is
// that cost alone). "decide" is Decide, which writes the reason; "authorize"
// is the allowed path of Authorize, which does not. Run it with -benchtime 1x.
func BenchmarkDecideLatency(b *testing.B) {
	tn := newBenchTenant()
	x := buildIndex(tn.assignments)
	tn.assignments = nil
	kinds := [][]benchQuery{tn.allowed, tn.allowed, tn.elsewhere, tn.notGranted}
	b.Run("decide", func(b *testing.B) {
		decideLatency(b, kinds, func(q benchQuery) { x.decide(q.principal, q.action, q.scope, benchNow) })
	})
	b.Run("authorize", func(b *testing.B) {
		decideLatency(b, kinds, func(q benchQuery) { x.evaluate(q.principal, q.action, q.scope, benchNow) })
	})
}

func decideLatency(b *testing.B, kinds [][]benchQuery, decide func(benchQuery)) {
	const batches, perBatch = 1000, 1000
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]benchQuery, perBatch)
	lat := make([]time.Duration, 0, batches*perBatch)
	timer := make([]time.Duration, 0, perBatch)
	for b.Loop() {
		lat, timer = lat[:0], timer[:0]
		for range batches {
			for i := range batch {
				qs := kinds[rng.IntN(len(kinds))]
				batch[i] = qs[rng.IntN(len(qs))]
			}
			compact(batch) // as a request's own strings are
			for _, q := range batch {
				start := time.Now()
				decide(q)
				lat = append(lat, time.Since(start))
			}
		}
		for range perBatch {
			start := time.Now()
			timer = append(timer, time.Since(start))
		}
	}
	slices.Sort(lat)
	slices.Sort(timer)
	at := func(d []time.Duration, q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(at(lat, 0.50), "p50-ns")
	b.ReportMetric(at(lat, 0.90), "p90-ns")
	b.ReportMetric(at(lat, 0.99), "p99-ns")
	b.ReportMetric(at(lat, 0.999), "p99.9-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
	b.ReportMetric(at(timer, 0.50), "timer-ns")
}
