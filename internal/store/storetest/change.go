package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testChanges(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"EachWrite", testChangeEachWrite},
		{"Since", testChangeSince},
		{"Prune", testChangePrune},
		{"ConcurrentWriters", testChangeConcurrentWriters},
		{"Signal", testChangeSignal},
		{"Replicas", testReplicas},
	})
}

// signalTimeout bounds the wait for a change signal. Signals come at once in
// process and within a poll or a notification across processes; the bound
// only keeps a broken backend from hanging the suite.
const signalTimeout = 10 * time.Second

// changeOf is a change as a test expects it: its topic and key.
type changeOf struct{ Topic, Key string }

// readChanges returns every change after after, checking that Seq grows.
func readChanges(t *testing.T, s store.Store, after int64) []store.Change {
	t.Helper()
	cs, err := s.ChangesSince(t.Context(), after, store.MaxPageLimit)
	if err != nil {
		t.Fatalf("ChangesSince(%d) = %v", after, err)
	}
	for _, c := range cs {
		if c.Seq <= after {
			t.Fatalf("ChangesSince(%d) gave Seq %d after %d", after, c.Seq, after)
		}
		after = c.Seq
	}
	return cs
}

func topicsOf(cs []store.Change) []changeOf {
	var out []changeOf
	for _, c := range cs {
		out = append(out, changeOf{c.Topic, c.Key})
	}
	return out
}

// mustWrite creates the i-th signing key, a write that records one change.
func mustWrite(t *testing.T, s store.Store, i int) {
	t.Helper()
	mustCreateSigningKey(t, s, newSigningKey(i))
}

// testChangeSince pages through changes and checks LatestChange.
func testChangeSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	if seq, err := s.LatestChange(ctx); seq != 0 || err != nil {
		t.Errorf("LatestChange() of an empty store = %d, %v; want 0", seq, err)
	}
	if cs, err := s.ChangesSince(ctx, 0, 10); len(cs) != 0 || err != nil {
		t.Errorf("ChangesSince(0) of an empty store = %v, %v; want none", cs, err)
	}
	for i := range 7 {
		mustWrite(t, s, i)
	}
	all := readChanges(t, s, 0)
	if len(all) != 7 {
		t.Fatalf("ChangesSince(0) after 7 writes = %d changes, want 7", len(all))
	}
	for i, c := range all {
		if want := (changeOf{store.TopicSigningKey, newSigningKey(i).ID}); (changeOf{c.Topic, c.Key}) != want {
			t.Errorf("change %d = %+v, want %+v", i, c, want)
		}
	}
	latest := all[6].Seq
	if seq, err := s.LatestChange(ctx); seq != latest || err != nil {
		t.Errorf("LatestChange() = %d, %v; want %d", seq, err, latest)
	}
	cases := []struct {
		after int64
		limit int
		want  []store.Change
	}{
		{0, 3, all[:3]},
		{all[2].Seq, 3, all[3:6]},
		{all[5].Seq, 3, all[6:]},
		{latest, 3, nil},
		{0, 0, all}, // the default limit
		{0, -1, all},
		{all[3].Seq, store.MaxPageLimit + 1, all[4:]},
	}
	for _, tc := range cases {
		got, err := s.ChangesSince(ctx, tc.after, tc.limit)
		if diff := cmp.Diff(tc.want, got); err != nil || diff != "" {
			t.Errorf("ChangesSince(%d, %d) = %v; mismatch (-want +got):\n%s", tc.after, tc.limit, err, diff)
		}
	}
}

// testChangePrune prunes changes by age: Seq goes on growing after every
// change is pruned.
func testChangePrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	prune := func(before time.Time) {
		t.Helper()
		if err := s.PruneChanges(ctx, before); err != nil {
			t.Fatalf("PruneChanges(%v) = %v", before, err)
		}
	}
	prune(time.Now())
	for i := range 3 {
		mustWrite(t, s, i)
	}
	old := readChanges(t, s, 0)
	cut := old[2].At.Add(time.Microsecond)
	for !time.Now().After(cut) { // the next changes are recorded at or after cut
		time.Sleep(time.Millisecond)
	}
	for i := 3; i < 5; i++ {
		mustWrite(t, s, i)
	}
	all := readChanges(t, s, 0)
	prune(old[0].At) // nothing is older than the oldest
	if got := readChanges(t, s, 0); len(got) != 5 {
		t.Errorf("ChangesSince(0) after pruning before the oldest = %d changes, want 5", len(got))
	}
	prune(cut)
	if diff := cmp.Diff(all[3:], readChanges(t, s, 0)); diff != "" {
		t.Errorf("ChangesSince(0) after PruneChanges(%v) mismatch (-want +got):\n%s", cut, diff)
	}
	prune(time.Now().Add(time.Hour))
	if got := readChanges(t, s, 0); len(got) != 0 {
		t.Errorf("ChangesSince(0) after pruning all = %v, want none", got)
	}
	if seq, err := s.LatestChange(ctx); seq != 0 || err != nil {
		t.Errorf("LatestChange() after pruning all = %d, %v; want 0", seq, err)
	}
	mustWrite(t, s, 5)
	if got := readChanges(t, s, 0); len(got) != 1 || got[0].Seq <= all[4].Seq {
		t.Errorf("ChangesSince(0) after a write = %v, want one change after Seq %d", got, all[4].Seq)
	}
}

// testChangeConcurrentWriters reads the feed while several writers append to
// it: a reader that moves its position past a change must never miss an
// earlier one that commits later.
func testChangeConcurrentWriters(t *testing.T, s store.Store) {
	const writers, writes = 4, 20
	done := make(chan struct{})
	var seen []store.Change
	var reader sync.WaitGroup
	reader.Go(func() {
		var after int64
		for finished := false; ; {
			select {
			case <-done:
				finished = true
			default:
			}
			cs, err := s.ChangesSince(t.Context(), after, 0)
			if err != nil {
				t.Errorf("ChangesSince(%d) = %v", after, err)
				return
			}
			seen = append(seen, cs...)
			if len(cs) > 0 {
				after = cs[len(cs)-1].Seq
			} else if finished {
				return
			}
		}
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				if err := s.CreateSigningKey(t.Context(), newSigningKey(w*writes+i)); err != nil {
					t.Errorf("CreateSigningKey = %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	reader.Wait()
	all := readChanges(t, s, 0)
	if len(all) != writers*writes {
		t.Errorf("ChangesSince(0) = %d changes, want %d", len(all), writers*writes)
	}
	if diff := cmp.Diff(all, seen); diff != "" {
		t.Errorf("changes seen while writing mismatch (-all +seen):\n%s", diff)
	}
}

// waitSignal waits for a signal on ch, which must not be closed.
func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the signal channel is closed", what)
		}
	case <-time.After(signalTimeout):
		t.Fatalf("%s: no signal within %v", what, signalTimeout)
	}
}

// drainSignal takes a pending signal, if any, off ch.
func drainSignal(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// waitClosed reads ch until it is closed: its goroutine has ended.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timeout := time.After(signalTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: the signal channel is still open after %v", what, signalTimeout)
		}
	}
}

// testChangeSignal subscribes twice to one store's changes: a write through
// the store wakes both; writers never wait for a reader; cancelling one
// subscription closes its channel and leaves the other.
func testChangeSignal(t *testing.T, s store.Store) {
	ctx1, cancel1 := context.WithCancel(t.Context())
	defer cancel1()
	sig1, sig2 := s.ChangeSignal(ctx1), s.ChangeSignal(t.Context())
	waitSignal(t, sig1, "first subscription, watching")
	waitSignal(t, sig2, "second subscription, watching")
	drainSignal(sig1)
	drainSignal(sig2)
	mustWrite(t, s, 0)
	waitSignal(t, sig1, "first subscription, after a write")
	waitSignal(t, sig2, "second subscription, after a write")
	for i := 1; i <= 20; i++ { // nobody reads: the signals coalesce
		mustWrite(t, s, i)
	}
	waitSignal(t, sig1, "first subscription, after unread writes")
	cancel1()
	waitClosed(t, sig1, "first subscription, cancelled")
	drainSignal(sig2)
	mustWrite(t, s, 21)
	waitSignal(t, sig2, "second subscription, after the first ended")

	done, cancel := context.WithCancel(t.Context())
	cancel()
	waitClosed(t, s.ChangeSignal(done), "subscription with a done context")
}

// errWant is a write that must fail.
var errWant = errors.New("want an error")

func mustFail(err error) error {
	if err == nil {
		return errWant
	}
	return nil
}

// testChangeEachWrite makes every kind of write in turn and checks the
// changes each records: one per write of each topic it touches, in order,
// stamped with the time of the write; none for a failed write or for
// settings. secretstate.go checks every write of secrets.
func testChangeEachWrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := changeSteps(ctx, s)
	var last int64
	for _, st := range steps {
		before := store.Time(time.Now())
		if err := st.write(); err != nil {
			t.Fatalf("%s = %v", st.name, err)
		}
		after := store.Time(time.Now())
		cs := readChanges(t, s, last)
		if diff := cmp.Diff(st.want, topicsOf(cs)); diff != "" {
			t.Errorf("%s: changes mismatch (-want +got):\n%s", st.name, diff)
		}
		for _, c := range cs {
			if c.At.Before(before) || c.At.After(after) || c.At.Location() != time.UTC {
				t.Errorf("%s: change %d at %v, want UTC between %v and %v", st.name, c.Seq, c.At, before, after)
			}
			last = c.Seq
		}
	}
	if seq, err := s.LatestChange(ctx); seq != last || err != nil {
		t.Errorf("LatestChange() = %d, %v; want %d", seq, err, last)
	}
}

// changeStep is one write of testChangeEachWrite and the changes it records.
type changeStep struct {
	name  string
	write func() error
	want  []changeOf
}

func changeSteps(ctx context.Context, s store.Store) []changeStep {
	alice := newPrincipal(store.User, 1, "alice")
	renamed := alice
	renamed.Name = "alice-2"
	cred := newCredential(alice.ID, store.SecretCredential, 1, "key")
	newer := newCredential(alice.ID, store.SecretCredential, 2, "key")
	key := newSigningKey(1)
	h := hub("h")
	v := below(h, store.Vault, "v")
	role := newRole(1, "Reader")
	e := newEligible(1, alice.ID, role.ID, v.Scope)
	active, direct := activated(1, e), newAssignment(2, alice.ID, role.ID, h.Scope)
	secret := store.SecretVersion{Vault: "w", Name: "s", Version: version(1), Value: []byte("sealed"), Enabled: true}
	on := func(topic, key string) []changeOf { return []changeOf{{topic, key}} }
	principal, eligible, assigned := store.TopicPrincipal, store.TopicEligibleAssignment, store.TopicRoleAssignment
	return []changeStep{
		{"InitSetting", func() error { _, err := s.InitSetting(ctx, "k", []byte("v")); return err }, nil},
		{"CreateSecretVersion", func() error { return s.CreateSecretVersion(ctx, secret) }, on(store.TopicSecret, "w/s")},
		{"CreatePrincipal", func() error { return s.CreatePrincipal(ctx, alice) }, on(principal, alice.ID)},
		{"CreatePrincipal, taken", func() error { return mustFail(s.CreatePrincipal(ctx, alice)) }, nil},
		{"UpdatePrincipal", func() error { return s.UpdatePrincipal(ctx, renamed) }, on(principal, alice.ID)},
		{"CreateCredential", func() error { return s.CreateCredential(ctx, cred) }, on(principal, alice.ID)},
		{"ReplaceCredentials", func() error {
			return s.ReplaceCredentials(ctx, alice.ID, store.SecretCredential, newer)
		}, on(principal, alice.ID)},
		{"DeleteCredential", func() error { return s.DeleteCredential(ctx, alice.ID, newer.ID) }, on(principal, alice.ID)},
		{"DeleteCredential, missing", func() error { return mustFail(s.DeleteCredential(ctx, alice.ID, newer.ID)) }, nil},
		{"CreateSigningKey", func() error { return s.CreateSigningKey(ctx, key) }, on(store.TopicSigningKey, key.ID)},
		{"DeleteSigningKey", func() error { return s.DeleteSigningKey(ctx, key.ID) }, on(store.TopicSigningKey, key.ID)},
		{"CreateResource", func() error { return s.CreateResource(ctx, h) }, on(store.TopicResource, h.Scope)},
		{"CreateResource, child", func() error { return s.CreateResource(ctx, v) }, on(store.TopicResource, v.Scope)},
		{"UpdateResource", func() error { return s.UpdateResource(ctx, v) }, on(store.TopicResource, v.Scope)},
		{"UpdateResourceIf", func() error { return s.UpdateResourceIf(ctx, v, v.Properties) }, on(store.TopicResource, v.Scope)},
		{"UpdateResourceIf, stale", func() error { return mustFail(s.UpdateResourceIf(ctx, v, []byte(`{"stale":true}`))) }, nil},
		{"DeleteResource, with children", func() error { return mustFail(s.DeleteResource(ctx, h.Scope)) }, nil},
		{"CreateRoleDefinition", func() error { return s.CreateRoleDefinition(ctx, role) }, on(store.TopicRoleDefinition, role.ID)},
		{"UpdateRoleDefinition", func() error { return s.UpdateRoleDefinition(ctx, role) }, on(store.TopicRoleDefinition, role.ID)},
		{"CreateEligibleAssignment", func() error { return s.CreateEligibleAssignment(ctx, e) }, on(eligible, alice.ID)},
		{"CreateRoleAssignment, activation", func() error { return s.CreateRoleAssignment(ctx, active) }, on(assigned, alice.ID)},
		{"DeleteRoleDefinition, in use", func() error { return mustFail(s.DeleteRoleDefinition(ctx, role.ID)) }, nil},
		{"DeleteEligibleAssignment, with its activation", func() error {
			return s.DeleteEligibleAssignment(ctx, e.ID)
		}, []changeOf{{eligible, alice.ID}, {assigned, alice.ID}}},
		{"CreateRoleAssignment", func() error { return s.CreateRoleAssignment(ctx, direct) }, on(assigned, alice.ID)},
		{"DeleteRoleAssignment", func() error { return s.DeleteRoleAssignment(ctx, direct.ID) }, on(assigned, alice.ID)},
		{"CreateEligibleAssignment again", func() error { return s.CreateEligibleAssignment(ctx, e) }, on(eligible, alice.ID)},
		{"DeleteEligibleAssignment, alone", func() error { return s.DeleteEligibleAssignment(ctx, e.ID) }, on(eligible, alice.ID)},
		{"CreateRoleAssignment again", func() error { return s.CreateRoleAssignment(ctx, direct) }, on(assigned, alice.ID)},
		{"CreateEligibleAssignment a third time", func() error { return s.CreateEligibleAssignment(ctx, e) }, on(eligible, alice.ID)},
		{"DeletePrincipal, with assignments", func() error {
			return s.DeletePrincipal(ctx, alice.ID)
		}, []changeOf{{principal, alice.ID}, {assigned, alice.ID}, {eligible, alice.ID}}},
		{"DeletePrincipal, missing", func() error { return mustFail(s.DeletePrincipal(ctx, alice.ID)) }, nil},
		{"DeleteRoleDefinition", func() error { return s.DeleteRoleDefinition(ctx, role.ID) }, on(store.TopicRoleDefinition, role.ID)},
		{"DeleteResource, child", func() error { return s.DeleteResource(ctx, v.Scope) }, on(store.TopicResource, v.Scope)},
		{"DeleteResource", func() error { return s.DeleteResource(ctx, h.Scope) }, on(store.TopicResource, h.Scope)},
		{"CreatePrincipal, without assignments", func() error {
			return s.CreatePrincipal(ctx, alice)
		}, on(principal, alice.ID)},
		{"DeletePrincipal, without assignments", func() error {
			return s.DeletePrincipal(ctx, alice.ID)
		}, on(principal, alice.ID)},
	}
}

// testReplicas: a replica's reports, lagging detection by seq and liveness,
// and forgetting.
func testReplicas(t *testing.T, s store.Store) {
	ctx := t.Context()
	t0 := baseTime()
	for _, r := range []struct {
		id  string
		seq int64
		at  time.Time
	}{{"a", 10, t0}, {"b", 5, t0}, {"c", 1, t0.Add(-time.Hour)}} {
		if err := s.ReportApplied(ctx, r.id, r.seq, r.at); err != nil {
			t.Fatalf("ReportApplied(%s) = %v", r.id, err)
		}
	}
	lagging := func(seq int64, since time.Time) []string {
		t.Helper()
		ids, err := s.LaggingReplicas(ctx, seq, since)
		if err != nil {
			t.Fatalf("LaggingReplicas(%d) = %v", seq, err)
		}
		return ids
	}
	if got := lagging(8, t0.Add(-time.Minute)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("LaggingReplicas(8, live) = %v, want [b] (c is not live, a is ahead)", got)
	}
	if got := lagging(8, t0.Add(-2*time.Hour)); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("LaggingReplicas(8, all) = %v, want [b c]", got)
	}
	if err := s.ReportApplied(ctx, "b", 9, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetReplica(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := lagging(8, t0.Add(-2*time.Hour)); len(got) != 0 {
		t.Errorf("after b caught up and c was forgotten: LaggingReplicas = %v, want none", got)
	}
}
