package storetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// The environment of a crash child. Only Crash sets these, for the process it
// starts, so a normal test run never enters child mode.
const (
	crashChildEnv = "LATCHKEY_CRASH_CHILD" // "1" in the child
	crashDSNEnv   = "LATCHKEY_CRASH_DSN"
	crashKeyEnv   = "LATCHKEY_CRASH_KEY" // an encoded seal.Key made by the parent
	crashStartEnv = "LATCHKEY_CRASH_START"
)

const (
	crashRounds   = 3
	crashMinAcks  = 20  // the child is killed after a random number of acks
	crashMaxAcks  = 200 // in [crashMinAcks, crashMaxAcks]
	crashChildMax = 100_000
	crashVault    = "crash"
	crashNames    = 3 // version i belongs to secret crashName(i)
)

// Crash proves a backend's commit protocol: no acknowledged write is lost when
// the process writing it dies. The test binary re-executes itself as a child
// (-test.run=^TestCrash$, so the backend's test must be named TestCrash and
// call Crash first) that seals and stores secret versions in a loop, printing
// "ack N" only after CreateSecretVersion returned nil. The parent kills it with
// SIGKILL at a random ack, then opens the database itself and checks that every
// acknowledged version is there and opens with the right key and binding, that
// every committed version (acknowledged or not) is whole, that there are no
// gaps, and that the newest version of each secret is the last one written.
// It does this for several rounds on the same database.
//
// What this cannot show: SIGKILL ends the process, not the machine, so the
// operating system still writes out whatever the database had handed it.
// Surviving power loss rests on the database calling fsync before it reports a
// commit (SQLite's synchronous=FULL, PostgreSQL's fsync and
// synchronous_commit), which only pulling the plug could test.
//
// newDSN is called only in the parent and returns where the database lives;
// open opens and migrates the store at a DSN, in the parent and the child.
func Crash(t *testing.T, newDSN func(t *testing.T) string, open func(ctx context.Context, dsn string) (store.Store, error)) {
	if os.Getenv(crashChildEnv) == "1" {
		crashChild(open) // never returns
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	dsn := newDSN(t)
	seed := rand.Uint64()
	t.Logf("crash seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var acked []int
	committed := 0
	for round := range crashRounds {
		kill := crashMinAcks + rng.IntN(crashMaxAcks-crashMinAcks+1)
		got := crashRound(t, dsn, key.Encode(), committed, kill)
		acked = append(acked, got...)
		before := committed
		committed = crashVerify(t, dsn, open, ring, acked)
		t.Logf("round %d: SIGKILL sent on ack %d, %d acks read in all; %d versions committed, %d of them not acknowledged",
			round, kill, len(got), committed-before, committed-before-len(got))
	}
}

// crashChild is the child's whole life: write until killed.
func crashChild(open func(ctx context.Context, dsn string) (store.Store, error)) {
	err := runCrashChild(open)
	fmt.Fprintln(os.Stderr, "crash child:", err)
	os.Exit(2)
}

func runCrashChild(open func(ctx context.Context, dsn string) (store.Store, error)) error {
	ctx := context.Background()
	start, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", crashStartEnv, err)
	}
	key, err := seal.ParseKey([]byte(os.Getenv(crashKeyEnv)))
	if err != nil {
		return fmt.Errorf("%s: %w", crashKeyEnv, err)
	}
	ring, err := seal.NewKeyring(key)
	if err != nil {
		return err
	}
	s, err := open(ctx, os.Getenv(crashDSNEnv))
	if err != nil {
		return err
	}
	for i := start; i < start+crashChildMax; i++ {
		v, err := crashSecret(ring, i)
		if err != nil {
			return err
		}
		if err := s.CreateSecretVersion(ctx, v); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		// One unbuffered write per ack: the parent sees it only once committed.
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", i); err != nil {
			return err
		}
	}
	return fmt.Errorf("wrote %d versions and was never killed", crashChildMax)
}

// crashRound runs one child from index start, kills it after kill acks and
// returns every index it acknowledged, including acks flushed after the kill.
func crashRound(t *testing.T, dsn, key string, start, kill int) []int {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrash$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDSNEnv+"="+dsn, crashKeyEnv+"="+key,
		crashStartEnv+"="+strconv.Itoa(start))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child: %v", err)
	}
	var acked []int
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		n, ok := strings.CutPrefix(lines.Text(), "ack ")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i != start+len(acked) {
			t.Errorf("crash child printed %q after %d acks from %d", lines.Text(), len(acked), start)
			continue
		}
		acked = append(acked, i)
		if len(acked) == kill {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatalf("kill crash child: %v", err)
			}
		}
	}
	err = cmd.Wait()
	if len(acked) < kill || !killedBySIGKILL(err) {
		t.Fatalf("crash child ended by itself after %d of %d acks: %v\n%s", len(acked), kill, err, stderr.Bytes())
	}
	return acked
}

// killedBySIGKILL reports whether err is the exit of a command that SIGKILL ended.
func killedBySIGKILL(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// crashVerify checks the database after a kill and returns how many versions
// are committed, which is also the next index to write.
func crashVerify(t *testing.T, dsn string, open func(ctx context.Context, dsn string) (store.Store, error),
	ring *seal.Keyring, acked []int) int {
	t.Helper()
	ctx := t.Context()
	s, err := open(ctx, dsn)
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close()
	for _, i := range acked {
		v, err := s.SecretVersion(ctx, crashVault, crashName(i), version(i))
		if err != nil {
			t.Errorf("acknowledged write %d lost: %v", i, err)
			continue
		}
		checkCrashValue(t, ring, i, v)
	}
	count, highest := 0, -1
	for n := range crashNames {
		name, newest := crashName(n), -1
		for _, page := range allPages(t, s, crashVault, name, store.MaxPageLimit) {
			for _, v := range page {
				i, err := strconv.ParseInt(v.Version, 16, 64)
				if err != nil || crashName(int(i)) != name {
					t.Fatalf("unexpected version %s/%s", name, v.Version)
				}
				checkCrashValue(t, ring, int(i), v)
				count, newest, highest = count+1, max(newest, int(i)), max(highest, int(i))
			}
		}
		if newest >= 0 {
			got, err := s.SecretVersion(ctx, crashVault, name, "")
			if err != nil || got.Version != version(newest) {
				t.Errorf("SecretVersion(%q, %q) = %q, %v, want the last written %q", crashVault, name, got.Version, err, version(newest))
			}
		}
	}
	// The child writes one version at a time, so the committed ones are 0..count-1.
	if highest != count-1 {
		t.Errorf("%d versions committed but the highest index is %d: a write in between was lost", count, highest)
	}
	return count
}

func crashName(i int) string { return fmt.Sprintf("secret-%d", i%crashNames) }

func crashPlaintext(i int) []byte {
	return fmt.Appendf(nil, "crash value %d\x00%s", i, strings.Repeat("x", i%64))
}

func crashBinding(name, ver string) seal.Binding { return seal.Bind("secret", crashVault, name, ver) }

// crashSecret returns the sealed version with index i.
func crashSecret(ring *seal.Keyring, i int) (store.SecretVersion, error) {
	name, ver := crashName(i), version(i)
	env, err := ring.Seal(crashPlaintext(i), crashBinding(name, ver))
	if err != nil {
		return store.SecretVersion{}, fmt.Errorf("seal %d: %w", i, err)
	}
	at := baseTime().Add(time.Duration(i) * time.Second)
	return store.SecretVersion{Vault: crashVault, Name: name, Version: ver, Value: env,
		ContentType: "text/plain", Enabled: true, Created: at, Updated: at}, nil
}

func checkCrashValue(t *testing.T, ring *seal.Keyring, i int, v store.SecretVersion) {
	t.Helper()
	got, err := ring.Open(v.Value, crashBinding(v.Name, v.Version))
	if err != nil || !bytes.Equal(got, crashPlaintext(i)) {
		t.Errorf("version %d (%s/%s) opens to %q, %v; want %q", i, v.Name, v.Version, got, err, crashPlaintext(i))
	}
}
