package account_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// TestRotation walks the four steps with a client that takes the active key
// before each call: it never fails, a regeneration is held back while the
// old key was used within the quiet period (naming the caller), and the
// rotation ends with two new keys.
func TestRotation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	first := e.listKeys("aoai")
	opts := account.RotateOptions{QuietPeriod: time.Minute}
	call := func(addr string) string { // the client: active key, then a call
		t.Helper()
		kn, key, err := e.accounts.ActiveKey(ctx, e.admin, "aoai")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.accounts.AuthenticateKey(ctx, "aoai", key.Reveal(), addr); err != nil {
			t.Fatalf("a call with the active key %s failed: %v", kn, err)
		}
		return kn
	}
	rotate := func(force bool) account.RotationStep {
		t.Helper()
		o := opts
		o.Force = force
		st, err := e.accounts.RotateKeys(ctx, e.admin, "aoai", o)
		if err != nil {
			t.Fatalf("RotateKeys = %v", err)
		}
		return st
	}
	if kn := call("10.0.0.7"); kn != store.Key1 {
		t.Fatalf("the active key before a rotation = %s, want key1", kn)
	}
	t0 := e.clock.Now()

	if st := rotate(false); !st.Done || st.Step != 1 || st.ActiveKey != store.Key2 || st.Action != "move consumers to key2" {
		t.Errorf("step 1 = %+v", st)
	}
	if a, _ := e.accounts.Get(ctx, e.admin, "aoai"); a.Rotation == nil || a.Rotation.Step != 2 || a.ActiveKey != store.Key2 {
		t.Errorf("the account after step 1 = %+v", a)
	}
	e.clock.Advance(30 * time.Second)
	if kn := call("10.0.0.8"); kn != store.Key2 {
		t.Errorf("the active key after step 1 = %s, want key2", kn)
	}
	held := rotate(false)
	want := account.RotationStep{Step: 2, Action: "regenerate key1", ActiveKey: store.Key2, RetryAt: t0.Add(time.Minute),
		Held: []account.KeyUse{{Key: store.Key1, Caller: "10.0.0.7", Via: account.ViaKey, LastUsed: t0}}}
	if diff := cmp.Diff(want, held, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("step 2 while key1 was used 30s ago (-want +got):\n%s", diff)
	}
	if e.listKeys("aoai").Key1 != first.Key1 {
		t.Fatal("the held step regenerated key1")
	}
	e.clock.Advance(30 * time.Second) // key1's last use is a minute old
	if st := rotate(false); !st.Done || st.Step != 2 || len(st.Held) != 0 {
		t.Errorf("step 2 after the quiet period = %+v", st)
	}
	second := e.listKeys("aoai")
	if second.Key1 == first.Key1 || second.Key2 != first.Key2 {
		t.Errorf("step 2 did not regenerate key1 alone")
	}
	call("10.0.0.8")
	if st := rotate(false); !st.Done || st.Step != 3 || st.ActiveKey != store.Key1 {
		t.Errorf("step 3 = %+v", st)
	}
	if kn := call("10.0.0.8"); kn != store.Key1 {
		t.Errorf("the active key after step 3 = %s, want key1", kn)
	}
	if st := rotate(false); st.Done || st.Step != 4 || len(st.Held) != 1 || st.Held[0].Caller != "10.0.0.8" {
		t.Errorf("step 4 while key2 was just used = %+v", st)
	}
	e.clock.Advance(time.Minute)
	st := rotate(false)
	if !st.Done || !st.Finished || st.Step != 4 || st.ActiveKey != store.Key1 {
		t.Errorf("step 4 after the quiet period = %+v", st)
	}
	third := e.listKeys("aoai")
	if third.Key1 != second.Key1 || third.Key2 == second.Key2 {
		t.Errorf("step 4 did not regenerate key2 alone")
	}
	if a, _ := e.accounts.Get(ctx, e.admin, "aoai"); a.Rotation != nil || !a.LastRotated.Equal(e.clock.Now()) {
		t.Errorf("the account after the rotation = %+v", a)
	}
	call("10.0.0.8")

	// A new rotation; --force regenerates a key in use.
	rotate(false)
	if st := rotate(true); !st.Done || st.Step != 2 {
		t.Errorf("step 2 with Force = %+v", st)
	}
	if err := e.authKey("aoai", third.Key1); errs.KindOf(err) != errs.Unauthenticated {
		t.Errorf("key1 after a forced step 2 = %v", err)
	}
	reader := e.principal("reader", "Reader")
	if _, err := e.accounts.RotateKeys(ctx, reader, "aoai", opts); errs.KindOf(err) != errs.Forbidden {
		t.Errorf("RotateKeys by a reader = %v, want Forbidden", err)
	}
}

// TestRotationSeesOtherReplicasUses: a caller of the old key on another
// replica holds the step back although that replica has not written its
// uses yet (its flush is an hour away): the check makes every replica write
// them first.
func TestRotationSeesOtherReplicasUses(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	sync := barrier(e.db)
	hour := func(o *account.Options) { o.FlushInterval = time.Hour }
	writer, _ := e.replica("writer", sync, hour)
	reader, _ := e.replica("reader", sync, hour)
	if _, _, err := writer.Put(ctx, e.admin, "default", "aoai", account.Spec{}); err != nil {
		t.Fatal(err)
	}
	ks, err := writer.ListKeys(ctx, e.admin, "aoai")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := writer.RotateKeys(ctx, e.admin, "aoai", account.RotateOptions{QuietPeriod: time.Minute}); err != nil || !st.Done {
		t.Fatalf("step 1 = %+v, %v", st, err)
	}
	if _, err := reader.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	st, err := writer.RotateKeys(ctx, e.admin, "aoai", account.RotateOptions{QuietPeriod: time.Minute})
	if err != nil || st.Done || len(st.Held) != 1 || st.Held[0].Caller != "192.0.2.9" {
		t.Errorf("step 2 with key1 in use on the other replica = %+v, %v; want it held, naming 192.0.2.9", st, err)
	}
}

// TestRotationStepsRace: two replicas take the same step of one account's
// rotation at once. Replica b takes step 2 while replica a is between
// checking the old key's uses and regenerating it (inside a's write
// barrier); a's step, computed from the record b has since changed, is then
// refused with Conflict, so the rotation moves on once, by b's step.
func TestRotationStepsRace(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var b *account.Service
	var bStep account.RotationStep
	var bErr error
	armed := false
	sync := func(ctx context.Context) error {
		if armed {
			armed = false
			bStep, bErr = b.RotateKeys(ctx, e.admin, "aoai", account.RotateOptions{Force: true})
		}
		return nil
	}
	a, _ := e.replica("a", sync)
	b, _ = e.replica("b", nil)
	if _, _, err := a.Put(ctx, e.admin, "default", "aoai", account.Spec{}); err != nil {
		t.Fatal(err)
	}
	if st, err := a.RotateKeys(ctx, e.admin, "aoai", account.RotateOptions{QuietPeriod: time.Minute}); err != nil || !st.Done || st.Step != 1 {
		t.Fatalf("step 1 = %+v, %v", st, err)
	}
	armed = true
	st, err := a.RotateKeys(ctx, e.admin, "aoai", account.RotateOptions{QuietPeriod: time.Minute})
	if bErr != nil || !bStep.Done || bStep.Step != 2 {
		t.Fatalf("replica b's step during a's = %+v, %v; want step 2 taken", bStep, bErr)
	}
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "run the step again") {
		t.Errorf("replica a's step 2, computed before b's = %+v, %v; want Conflict saying to run it again", st, err)
	}
	// The rotation goes on from b's step: next is step 3, on either replica.
	if st, err := a.RotateKeys(ctx, e.admin, "aoai", account.RotateOptions{QuietPeriod: time.Minute}); err != nil || !st.Done || st.Step != 3 {
		t.Errorf("the next step = %+v, %v; want step 3", st, err)
	}
}
