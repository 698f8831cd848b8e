package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testAccountKeys(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testAccountKeyRoundTrip},
		{"Conflict", testAccountKeyConflict},
		{"Replace", testAccountKeyReplace},
		{"ConcurrentReplace", testAccountKeyConcurrentReplace},
		{"Delete", testAccountKeyDelete},
		{"Pages", testAccountKeyPages},
		{"Uses", testKeyUses},
		{"Changes", testAccountKeyChanges},
	})
}

// newAccountKey returns key name of account with every field set; i tells
// values apart.
func newAccountKey(account, name string, i int) store.AccountKey {
	return store.AccountKey{
		Account: account,
		Name:    name,
		Version: version(i),
		Value:   []byte(fmt.Sprintf("sealed:%s/%s/%d", account, name, i)),
		Lookup:  fmt.Sprintf("%064x", i),
		Created: baseTime().Add(time.Duration(i) * time.Second),
	}
}

// storedKey returns k as a store gives it back.
func storedKey(k store.AccountKey) store.AccountKey {
	k.Created = store.Time(k.Created)
	return k
}

func mustPutKey(t *testing.T, s store.Store, k store.AccountKey, oldVersion string) {
	t.Helper()
	if err := s.PutAccountKey(t.Context(), k, oldVersion); err != nil {
		t.Fatalf("PutAccountKey(%s/%s, %q) = %v", k.Account, k.Name, oldVersion, err)
	}
}

// checkKeys reads account's keys and each by its lookup, and compares them
// with want.
func checkKeys(t *testing.T, s store.Store, account string, want ...store.AccountKey) {
	t.Helper()
	for i := range want {
		want[i] = storedKey(want[i])
	}
	got, err := s.AccountKeys(t.Context(), account)
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("AccountKeys(%s) = %v; mismatch (-want +got):\n%s", account, err, diff)
	}
	for _, w := range want {
		got, err := s.AccountKeyByLookup(t.Context(), w.Lookup)
		if diff := cmp.Diff(w, got); err != nil || diff != "" {
			t.Errorf("AccountKeyByLookup(%s/%s) = %v; mismatch (-want +got):\n%s", w.Account, w.Name, err, diff)
		}
	}
}

func testAccountKeyRoundTrip(t *testing.T, s store.Store) {
	k1, k2 := newAccountKey("aoai", store.Key1, 1), newAccountKey("aoai", store.Key2, 2)
	mustPutKey(t, s, k2, "")
	mustPutKey(t, s, k1, "")
	checkKeys(t, s, "aoai", k1, k2)
	zero := newAccountKey("zero", store.Key1, 3)
	zero.Created, zero.Value = time.Time{}, nil
	mustPutKey(t, s, zero, "")
	checkKeys(t, s, "zero", zero)
	if ks, err := s.AccountKeys(t.Context(), "none"); len(ks) != 0 || err != nil {
		t.Errorf("AccountKeys(none) = %v, %v; want none", ks, err)
	}
	if _, err := s.AccountKeyByLookup(t.Context(), fmt.Sprintf("%064x", 99)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountKeyByLookup(unknown) = %v, want ErrNotFound", err)
	}
}

func testAccountKeyConflict(t *testing.T, s store.Store) {
	k1 := newAccountKey("aoai", store.Key1, 1)
	mustPutKey(t, s, k1, "")
	cases := []struct {
		name string
		k    store.AccountKey
		old  string
	}{
		{"the same name again", newAccountKey("aoai", store.Key1, 2), ""},
		{"another key's lookup", func() store.AccountKey {
			k := newAccountKey("other", store.Key1, 3)
			k.Lookup = k1.Lookup
			return k
		}(), ""},
		{"another key's lookup, replacing", func() store.AccountKey {
			k := newAccountKey("aoai", store.Key2, 4)
			mustPutKey(t, s, k, "")
			k = newAccountKey("aoai", store.Key2, 5)
			k.Lookup = k1.Lookup
			return k
		}(), version(4)},
	}
	for _, tc := range cases {
		if err := s.PutAccountKey(t.Context(), tc.k, tc.old); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: PutAccountKey = %v, want ErrConflict", tc.name, err)
		}
		checkNoLeak(t, s.PutAccountKey(t.Context(), tc.k, tc.old), tc.k.Value, []byte(tc.k.Lookup))
	}
	checkKeys(t, s, "aoai", k1, newAccountKey("aoai", store.Key2, 4))
	if ks, err := s.AccountKeys(t.Context(), "other"); len(ks) != 0 || err != nil {
		t.Errorf("AccountKeys(other) after a refused put = %v, %v; want none", ks, err)
	}
}

func testAccountKeyReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	k1, k2 := newAccountKey("aoai", store.Key1, 1), newAccountKey("aoai", store.Key2, 2)
	mustPutKey(t, s, k1, "")
	mustPutKey(t, s, k2, "")
	at := store.Time(baseTime())
	uses := []store.KeyUse{
		{Account: "aoai", Key: store.Key1, Version: k1.Version, Caller: "10.0.0.1", Via: "key", LastUsed: at},
		{Account: "aoai", Key: store.Key2, Version: k2.Version, Caller: "10.0.0.2", Via: "key", LastUsed: at},
	}
	if err := s.RecordKeyUses(ctx, uses); err != nil {
		t.Fatal(err)
	}
	next := newAccountKey("aoai", store.Key1, 3)
	mustPutKey(t, s, next, k1.Version)
	checkKeys(t, s, "aoai", next, k2)
	if _, err := s.AccountKeyByLookup(ctx, k1.Lookup); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountKeyByLookup(the replaced value) = %v, want ErrNotFound", err)
	}
	if got, err := s.KeyUses(ctx, "aoai"); err != nil || !cmp.Equal(got, uses[1:]) {
		t.Errorf("KeyUses after replacing key1 = %v, %v; want only key2's use %v", got, err, uses[1:])
	}
	if err := s.PutAccountKey(ctx, newAccountKey("aoai", store.Key1, 4), k1.Version); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutAccountKey over a stale version = %v, want ErrConflict", err)
	}
	if err := s.PutAccountKey(ctx, newAccountKey("none", store.Key1, 5), version(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutAccountKey replacing a key that does not exist = %v, want ErrNotFound", err)
	}
	checkKeys(t, s, "aoai", next, k2)
}

// testAccountKeyConcurrentReplace regenerates one key from many writers at
// once, all from the same version: exactly one wins.
func testAccountKeyConcurrentReplace(t *testing.T, s store.Store) {
	k1 := newAccountKey("aoai", store.Key1, 1)
	mustPutKey(t, s, k1, "")
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { errs[i] = s.PutAccountKey(t.Context(), newAccountKey("aoai", store.Key1, 10+i), k1.Version) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("writers %d and %d both replaced version %s", won, i, k1.Version)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("writer %d: PutAccountKey = %v, want nil or ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no writer replaced the key: %v", errs)
	}
	checkKeys(t, s, "aoai", newAccountKey("aoai", store.Key1, 10+won))
}

func testAccountKeyDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, account := range []string{"a", "b"} {
		mustPutKey(t, s, newAccountKey(account, store.Key1, 2*i), "")
		mustPutKey(t, s, newAccountKey(account, store.Key2, 2*i+1), "")
		if err := s.RecordKeyUses(ctx, []store.KeyUse{{Account: account, Key: store.Key1, Version: version(2 * i),
			Caller: "10.0.0.1", Via: "token", LastUsed: baseTime()}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteAccountKeys(ctx, "a"); err != nil {
		t.Fatalf("DeleteAccountKeys(a) = %v", err)
	}
	checkKeys(t, s, "a")
	if us, err := s.KeyUses(ctx, "a"); len(us) != 0 || err != nil {
		t.Errorf("KeyUses(a) after DeleteAccountKeys = %v, %v; want none", us, err)
	}
	checkKeys(t, s, "b", newAccountKey("b", store.Key1, 2), newAccountKey("b", store.Key2, 3))
	if us, err := s.KeyUses(ctx, "b"); len(us) != 1 || err != nil {
		t.Errorf("KeyUses(b) = %v, %v; want its one use", us, err)
	}
	if err := s.DeleteAccountKeys(ctx, "a"); err != nil {
		t.Errorf("DeleteAccountKeys of an account without keys = %v, want nil", err)
	}
	mustPutKey(t, s, newAccountKey("a", store.Key1, 0), "") // the name is free again
}

func testAccountKeyPages(t *testing.T, s store.Store) {
	var want []store.AccountKey
	// "a-b" sorts before "a/" bytewise: the order is of account/name.
	for i, account := range []string{"a", "a-b", "b", "c", "d"} {
		for j, name := range []string{store.Key1, store.Key2} {
			k := newAccountKey(account, name, 2*i+j)
			mustPutKey(t, s, k, "")
			want = append(want, storedKey(k))
		}
	}
	want[0], want[1], want[2], want[3] = want[2], want[3], want[0], want[1]
	for _, limit := range []int{1, 3, 10, 0} {
		got := listAll(t, "AllAccountKeys", limit, func(p store.Page) ([]store.AccountKey, string, error) {
			return s.AllAccountKeys(t.Context(), p)
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AllAccountKeys in pages of %d mismatch (-want +got):\n%s", limit, diff)
		}
	}
	if _, _, err := s.AllAccountKeys(t.Context(), store.Page{After: "%%%"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AllAccountKeys(bad cursor) = %v, want ErrInvalid", err)
	}
}

func testKeyUses(t *testing.T, s store.Store) {
	ctx := t.Context()
	t0 := baseTime()
	use := func(key, caller, via string, at time.Time) store.KeyUse {
		return store.KeyUse{Account: "aoai", Key: key, Version: version(1), Caller: caller, Via: via, LastUsed: at}
	}
	if err := s.RecordKeyUses(ctx, nil); err != nil {
		t.Errorf("RecordKeyUses(none) = %v", err)
	}
	steps := [][]store.KeyUse{
		{use(store.Key2, "10.0.0.9", "key", t0), use(store.Key1, "10.0.0.1", "key", t0.Add(time.Second))},
		{use(store.Key1, "10.0.0.1", "key", t0.Add(3*time.Second)), use(store.Key1, "10.0.0.1", "token", t0)},
		// An older use recorded late (another replica's flush) changes nothing.
		{use(store.Key1, "10.0.0.1", "key", t0.Add(2*time.Second))},
		{{Account: "other", Key: store.Key1, Version: version(1), Caller: "10.0.0.1", Via: "key", LastUsed: t0}},
	}
	for i, st := range steps {
		if err := s.RecordKeyUses(ctx, st); err != nil {
			t.Fatalf("RecordKeyUses, step %d = %v", i, err)
		}
	}
	at := func(u store.KeyUse) store.KeyUse { u.LastUsed = store.Time(u.LastUsed); return u }
	want := []store.KeyUse{
		at(use(store.Key1, "10.0.0.1", "key", t0.Add(3*time.Second))),
		at(use(store.Key1, "10.0.0.1", "token", t0)),
		at(use(store.Key2, "10.0.0.9", "key", t0)),
	}
	got, err := s.KeyUses(ctx, "aoai")
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("KeyUses(aoai) = %v; mismatch (-want +got):\n%s", err, diff)
	}
}

// testAccountKeyChanges checks that every write of keys appends one change
// of topic accountKey naming the account, and recording uses none.
func testAccountKeyChanges(t *testing.T, s store.Store) {
	ctx := t.Context()
	last, err := s.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		write func() error
		want  []changeOf
	}{
		{"PutAccountKey new", func() error { return s.PutAccountKey(ctx, newAccountKey("aoai", store.Key1, 1), "") },
			[]changeOf{{store.TopicAccountKey, "aoai"}}},
		{"PutAccountKey replacing", func() error { return s.PutAccountKey(ctx, newAccountKey("aoai", store.Key1, 2), version(1)) },
			[]changeOf{{store.TopicAccountKey, "aoai"}}},
		{"RecordKeyUses", func() error {
			return s.RecordKeyUses(ctx, []store.KeyUse{{Account: "aoai", Key: store.Key1, Version: version(2), Caller: "x", Via: "key", LastUsed: baseTime()}})
		}, nil},
		{"PutAccountKey refused", func() error {
			if err := s.PutAccountKey(ctx, newAccountKey("aoai", store.Key1, 3), ""); !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("PutAccountKey = %v, want ErrConflict", err)
			}
			return nil
		}, nil},
		{"DeleteAccountKeys", func() error { return s.DeleteAccountKeys(ctx, "aoai") },
			[]changeOf{{store.TopicAccountKey, "aoai"}}},
	}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s = %v", st.name, err)
		}
		cs := readChanges(t, s, last)
		if diff := cmp.Diff(st.want, topicsOf(cs)); diff != "" {
			t.Errorf("%s: changes mismatch (-want +got):\n%s", st.name, diff)
		}
		if len(cs) > 0 {
			last = cs[len(cs)-1].Seq
		}
	}
}
