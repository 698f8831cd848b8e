package audit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// The environment of a crash child; only TestCrash sets it, for the process
// it starts.
const (
	crashChildEnv = "LATCHKEY_AUDIT_CRASH_CHILD" // "1" in the child
	crashPathEnv  = "LATCHKEY_AUDIT_CRASH_DB"
	crashStartEnv = "LATCHKEY_AUDIT_CRASH_START"
)

const (
	crashRounds    = 3
	crashMinAcks   = 30
	crashMaxAcks   = 300
	crashRecorders = 8 // goroutines recording at once in the child, so batches hold several events
)

// TestCrash proves that Record's acknowledgement means durable: the test
// binary re-runs itself (-test.run=^TestCrash$) as a child that records
// events from 8 goroutines through a Writer on a SQLite file and prints
// "ack N" after each Record returns nil. The parent kills it with SIGKILL
// at a random ack, then checks that every acknowledged event is stored,
// none twice, and that the chain verifies. Three rounds on one file, each
// child continuing the chain the last one left.
func TestCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		crashChild() // never returns
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	seed := rand.Uint64()
	t.Logf("crash seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	acked := make(map[string]bool)
	for round := range crashRounds {
		kill := crashMinAcks + rng.IntN(crashMaxAcks-crashMinAcks+1)
		got := crashRound(t, path, round*1_000_000, kill)
		for _, id := range got {
			acked[id] = true
		}
		st := openStore(t, path) // closed when the test ends; the next child shares the file meanwhile
		ids := stored(t, st)
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				t.Errorf("event %s stored twice", id)
			}
			seen[id] = true
		}
		for id := range acked {
			if !seen[id] {
				t.Errorf("acknowledged event %s lost", id)
			}
		}
		v := mustVerify(t, st)
		t.Logf("round %d: SIGKILL on ack %d, %d acks read; %d events stored in %d batches, %d of them not acknowledged",
			round, kill, len(got), v.Events, v.Batches, len(ids)-len(acked))
	}
}

// crashChild records until killed.
func crashChild() {
	err := runCrashChild()
	fmt.Fprintln(os.Stderr, "crash child:", err)
	os.Exit(2)
}

func runCrashChild() error {
	ctx := context.Background()
	start, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, os.Getenv(crashPathEnv))
	if err != nil {
		return err
	}
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	w, err := audit.NewWriter(audit.Options{Store: st})
	if err != nil {
		return err
	}
	go w.Run(ctx)
	var mu sync.Mutex // serialises acks, one write each
	errc := make(chan error, crashRecorders)
	for r := range crashRecorders {
		go func() {
			for i := start + r; ; i += crashRecorders {
				e := event(i)
				e.CorrelationID = crashID(i)
				if err := w.Record(ctx, e); err != nil {
					errc <- fmt.Errorf("record %d: %w", i, err)
					return
				}
				mu.Lock()
				_, err := fmt.Fprintf(os.Stdout, "ack %d\n", i)
				mu.Unlock()
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	return <-errc
}

func crashID(i int) string { return "crash-" + strconv.Itoa(i) }

// crashRound runs one child from index start, kills it after kill acks and
// returns the ids of every event it acknowledged, including acks read after
// the kill.
func crashRound(t *testing.T, path string, start, kill int) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrash$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashPathEnv+"="+path, crashStartEnv+"="+strconv.Itoa(start))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child: %v", err)
	}
	var acked []string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		n, ok := strings.CutPrefix(lines.Text(), "ack ")
		i, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Errorf("crash child printed %q", lines.Text())
			continue
		}
		acked = append(acked, crashID(i))
		if len(acked) == kill {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatalf("kill crash child: %v", err)
			}
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	killed := errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if len(acked) < kill || !killed {
		t.Fatalf("crash child ended by itself after %d of %d acks: %v\n%s", len(acked), kill, err, stderr.String())
	}
	return acked
}
