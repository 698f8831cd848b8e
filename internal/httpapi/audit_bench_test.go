package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
)

// BenchmarkSecretGetAudit measures the Key Vault data plane's secret GET over
// HTTPS, from parallel clients on keep-alive connections, with the audit
// trail on (every read enqueued to the group-committed writer, which appends
// to SQLite) and off (the same server without an Auditor). Run both in one
// invocation and compare req/s: the target is at least 90 % with auditing.
//
//	go test ./internal/httpapi -run XXX -bench SecretGetAudit -benchtime 5s -count 3 -cpu 2
func BenchmarkSecretGetAudit(b *testing.B) {
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("audit=%v", on), func(b *testing.B) {
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
			tr.MaxIdleConnsPerHost = 64
			b.Cleanup(tr.CloseIdleConnections)
			hc := &http.Client{Transport: tr}
			target := e.secretURL("/secrets/bench")
			get := func() error {
				req, err := http.NewRequest(http.MethodGet, target, nil)
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
			if err := get(); err != nil { // warm the caches and the connection
				b.Fatal(err)
			}
			var before audit.Stats
			if on {
				before = e.trail.Stats()
			}
			b.SetParallelism(8) // 8 clients per GOMAXPROCS
			cpu0 := processCPU(b)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			// CPU time per request (client and server: one process) holds
			// better than req/s when other work shares the machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
			if on {
				// Every read left an event, none was dropped: the comparison
				// is of auditing that keeps up, not of auditing that sheds.
				deadline := time.Now().Add(10 * time.Second)
				for {
					st := e.trail.Stats()
					if st.Written-before.Written >= uint64(b.N) || time.Now().After(deadline) {
						if st.Dropped != before.Dropped {
							b.Errorf("the audit writer dropped %d events", st.Dropped-before.Dropped)
						}
						if got := st.Written - before.Written; got < uint64(b.N) {
							b.Errorf("audit events written = %d, want at least %d", got, b.N)
						}
						b.ReportMetric(float64(st.Written-before.Written)/float64(max(st.Batches-before.Batches, 1)), "events/batch")
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// processCPU returns the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
