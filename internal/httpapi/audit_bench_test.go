package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSecretGetAudit measures the Key Vault data plane's secret GET over
// HTTPS from 16 parallel clients on keep-alive connections, against two
// servers in this process: one with the audit trail on (every read enqueued
// to the group-committed writer with its production defaults, appending to
// SQLite) and one without an Auditor. The target is at least 90 % of the
// throughput with auditing.
//
// The two are measured in turns rather than one after the other: each
// iteration is one slice of sliceTime on each server, in an order that
// turns round every iteration, and the figures sum the slices. A machine
// shared with other work speeds up and slows down over seconds; slices that
// short see the same machine, so the ratio holds where back-to-back runs
// differ by a fifth. A slice with auditing ends only once the writer has
// stored every event its reads queued, so that its work never spills into
// the other server's slice. That wait is mostly the writer sleeping out
// MaxDelay for its last batch, which a steady load never waits for: the
// slice's time ends with its reads, and its CPU time with the wait (the
// writer's work on that last batch, under 1 % of the slice's, costs the
// reads no time).
//
//	go test ./internal/httpapi -run XXX -bench SecretGetAudit -benchtime 40x -count 3
//
// Metrics: on-req/s and off-req/s (reads per second of each server's slices),
// on/off (their ratio, the figure the target is about), on-cpu-µs/req and
// off-cpu-µs/req (the process's CPU time per read, clients and server
// together), and events/batch.
func BenchmarkSecretGetAudit(b *testing.B) {
	const (
		clients   = 16
		sliceTime = 250 * time.Millisecond
	)
	type target struct {
		env      *kvEnv
		get      func() error
		reads    int64
		elapsed  time.Duration
		cpu      time.Duration
		auditing bool
	}
	newTarget := func(on bool) *target {
		e := &kvEnv{env: newEnv(b, envOptions{editIdentity: unthrottled, keyVault: true, noAudit: !on, auditDefaults: true})}
		e.admin = e.principal("admin", grant{"Owner", "/"}, grant{"Key Vault Administrator", "/"})
		for _, scope := range []string{"/hubs/default", "/hubs/default/vaults/default"} {
			if _, err := e.access.CreateResource(context.Background(), e.admin.ID, scope); err != nil {
				b.Fatal(err)
			}
		}
		token := e.token(e.admin, e.resource())
		if a := e.do(http.MethodPut, e.secretURL("/secrets/bench"), token, `{"value":"a benchmark secret"}`); a.status != http.StatusOK {
			b.Fatalf("set secret = %d %s", a.status, a.body)
		}
		// The env's client logs every exchange; a benchmark uses a clone of
		// its transport that keeps a connection per client.
		tr := e.wire.next.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * clients
		b.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr}
		url := e.secretURL("/secrets/bench")
		get := func() error {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET secret = %d", resp.StatusCode)
			}
			return nil
		}
		for range clients { // warm the caches and open every connection
			if err := get(); err != nil {
				b.Fatal(err)
			}
		}
		return &target{env: e, get: get, auditing: on}
	}
	on, off := newTarget(true), newTarget(false)
	before := on.env.trail.Stats()

	// slice runs the clients against t for sliceTime; with auditing, it
	// then waits until the writer stored every event queued so far.
	slice := func(t *target) {
		var (
			wg    sync.WaitGroup
			stop  atomic.Bool
			reads atomic.Int64
		)
		cpu0, start := processCPU(b), time.Now()
		for range clients {
			wg.Go(func() {
				for !stop.Load() {
					if err := t.get(); err != nil {
						b.Error(err)
						return
					}
					reads.Add(1)
				}
			})
		}
		time.Sleep(sliceTime)
		stop.Store(true)
		wg.Wait()
		t.elapsed += time.Since(start)
		if t.auditing {
			deadline := time.Now().Add(10 * time.Second)
			for st := t.env.trail.Stats(); st.Written < st.Accepted; st = t.env.trail.Stats() {
				if time.Now().After(deadline) {
					b.Fatalf("the audit writer did not catch up in 10 s: %+v", st)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		t.cpu += processCPU(b) - cpu0
		t.reads += reads.Load()
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			slice(on)
			slice(off)
		} else {
			slice(off)
			slice(on)
		}
		i++
	}
	b.StopTimer()
	st := on.env.trail.Stats()
	if st.Dropped != before.Dropped {
		// The comparison is of auditing that keeps up, not of auditing that sheds.
		b.Errorf("the audit writer dropped %d events", st.Dropped-before.Dropped)
	}
	if got := int64(st.Written - before.Written); got < on.reads {
		b.Errorf("audit events written = %d, want at least %d (one a read)", got, on.reads)
	}
	rate := func(t *target) float64 { return float64(t.reads) / t.elapsed.Seconds() }
	b.ReportMetric(rate(on), "on-req/s")
	b.ReportMetric(rate(off), "off-req/s")
	b.ReportMetric(rate(on)/rate(off), "on/off")
	b.ReportMetric(float64(on.cpu.Microseconds())/float64(on.reads), "on-cpu-µs/req")
	b.ReportMetric(float64(off.cpu.Microseconds())/float64(off.reads), "off-cpu-µs/req")
	b.ReportMetric(float64(st.Written-before.Written)/float64(max(st.Batches-before.Batches, 1)), "events/batch")
	b.ReportMetric(0, "ns/op") // an iteration is two slices of fixed length: its time says nothing
}

// processCPU returns the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
