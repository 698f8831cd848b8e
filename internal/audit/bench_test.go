package audit

import (
	"context"
	"crypto/rand"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// benchStores returns how to open the stores the benchmarks run on: SQLite
// in a temporary folder, and PostgreSQL in a fresh schema when
// LATCHKEY_TEST_POSTGRES is set.
func benchStores() []struct {
	name string
	open func(b *testing.B) store.Store
} {
	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{{"SQLite", openSQLiteBench}}
	if dsn := os.Getenv("LATCHKEY_TEST_POSTGRES"); dsn != "" {
		stores = append(stores, struct {
			name string
			open func(b *testing.B) store.Store
		}{"PostgreSQL", func(b *testing.B) store.Store { return openPostgresBench(b, dsn) }})
	}
	return stores
}

func openSQLiteBench(b *testing.B) store.Store {
	b.Helper()
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "latchkey.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return st
}

// openPostgresBench opens and migrates a store in a new schema of the
// database at dsn, and drops the schema when the benchmark ends.
func openPostgresBench(b *testing.B, dsn string) store.Store {
	b.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	schema := "lk_" + strings.ToLower(rand.Text())
	if _, err := admin.ExecContext(b.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(b.Context(), u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchEvent is a typical event of a secret read.
func benchEvent() Event {
	return Event{
		CorrelationID: "0f8fad5b-d9cb-469f-a165-70867728950e",
		PrincipalID:   "3f1c1a52-8f7e-4c55-9b11-3f8a2c1d0e01",
		PrincipalType: "ServicePrincipal",
		PrincipalName: "build-agent",
		AuthMethod:    "bearer",
		ClientIP:      netip.MustParseAddr("10.1.2.3"),
		Operation:     "Latchkey.KeyVault/vaults/secrets/getSecret/action",
		Scope:         "/hubs/h/vaults/v",
		Result:        Allowed,
		Status:        200,
	}
}

// BenchmarkRecord measures the Writer's throughput with MaxBatch 256: 256
// goroutines call Record at once, each waiting until its event is durable,
// so each transaction carries many events.
func BenchmarkRecord(b *testing.B) {
	for _, s := range benchStores() {
		b.Run(s.name, func(b *testing.B) {
			w, err := NewWriter(Options{Store: s.open(b), MaxBatch: 256})
			if err != nil {
				b.Fatal(err)
			}
			go w.Run(b.Context())
			defer w.Close()
			e := benchEvent()
			b.ReportAllocs()
			b.SetParallelism(max(1, 256/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := w.Record(b.Context(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			st := w.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Written)/float64(max(1, st.Batches)), "events/batch")
		})
	}
}

// BenchmarkAppendBatch measures the store alone: one AppendAuditBatch of
// 256 linked events per operation, one transaction each.
func BenchmarkAppendBatch(b *testing.B) {
	for _, s := range benchStores() {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			e := benchEvent()
			events := make([]store.AuditEvent, 256)
			for i := range events {
				events[i] = e.record(time.Now())
			}
			var head store.AuditHead
			b.ReportAllocs()
			for b.Loop() {
				batch := link(head, events, time.Now())
				if err := st.AppendAuditBatch(b.Context(), batch, events); err != nil {
					b.Fatal(err)
				}
				head = store.AuditHead{Batch: batch.Batch, Seq: batch.LastSeq, Hash: batch.Hash}
			}
			b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEnqueue measures what a hot path pays to audit a read: Enqueue
// of an event the queue accepts. The writer does not run; the benchmark
// empties the queue, off the clock, whenever it fills.
func BenchmarkEnqueue(b *testing.B) {
	w, err := NewWriter(Options{Store: openSQLiteBench(b)})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		if !w.Enqueue(e) {
			b.StopTimer()
			for len(w.queue) > 0 {
				<-w.queue
			}
			b.StartTimer()
		}
	}
}
