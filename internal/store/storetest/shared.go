package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

// RunShared runs the cases that need two stores on one database, as two
// processes or replicas have. newPair must open two stores on one fresh,
// migrated, empty database, and register their cleanup with t; cases run in
// parallel, each on its own pair.
func RunShared(t *testing.T, newPair func(t *testing.T) (first, second store.Store)) {
	cases := []struct {
		name string
		run  func(t *testing.T, first, second store.Store)
	}{
		{"ChangeSignal", testSharedChangeSignal},
		{"AuditAppend", testSharedAudit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first, second := newPair(t)
			tc.run(t, first, second)
		})
	}
}

// testSharedChangeSignal writes through one store and waits for the other's
// change signal, both ways: each then reads the other's change.
func testSharedChangeSignal(t *testing.T, first, second store.Store) {
	stores := []struct {
		name string
		s    store.Store
	}{{"first", first}, {"second", second}}
	for i, writer := range stores {
		reader := stores[1-i]
		t.Run(writer.name+" writes", func(t *testing.T) {
			latest, err := reader.s.LatestChange(t.Context())
			if err != nil {
				t.Fatalf("LatestChange() = %v", err)
			}
			sig := reader.s.ChangeSignal(t.Context())
			waitSignal(t, sig, reader.name+" store, watching")
			drainSignal(sig)
			mustWrite(t, writer.s, i)
			waitSignal(t, sig, reader.name+" store, after a write through the "+writer.name)
			got := topicsOf(readChanges(t, reader.s, latest))
			want := []changeOf{{store.TopicSigningKey, newSigningKey(i).ID}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s store's changes after the write mismatch (-want +got):\n%s", reader.name, diff)
			}
		})
	}
}
