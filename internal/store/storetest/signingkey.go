package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testSigningKeys(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testSigningKeyRoundTrip},
		{"Order", testSigningKeyOrder},
		{"Conflict", testSigningKeyConflict},
		{"Delete", testSigningKeyDelete},
		{"None", testSigningKeyNone},
	})
}

// newSigningKey returns the i-th signing key with every field set; kids sort
// by i.
func newSigningKey(i int) store.SigningKey {
	return store.SigningKey{
		ID:          fmt.Sprintf("kid-%04d", i),
		Algorithm:   "ES256",
		Private:     []byte(fmt.Sprintf("sealed private key %d\x00\xff", i)),
		Public:      []byte(fmt.Sprintf("\x30\x59 public key %d", i)),
		Created:     baseTime(),
		ActiveUntil: baseTime().Add(30 * 24 * time.Hour),
		RetireAt:    baseTime().Add(60 * 24 * time.Hour),
	}
}

// storedSigningKeys returns ks as a store gives them back: times normalised,
// empty bytes as nil.
func storedSigningKeys(ks ...store.SigningKey) []store.SigningKey {
	var out []store.SigningKey
	for _, k := range ks {
		k.Created, k.ActiveUntil, k.RetireAt = store.Time(k.Created), store.Time(k.ActiveUntil), store.Time(k.RetireAt)
		if len(k.Private) == 0 {
			k.Private = nil
		}
		if len(k.Public) == 0 {
			k.Public = nil
		}
		out = append(out, k)
	}
	return out
}

func mustCreateSigningKey(t *testing.T, s store.Store, k store.SigningKey) {
	t.Helper()
	if err := s.CreateSigningKey(t.Context(), k); err != nil {
		t.Fatalf("CreateSigningKey(%s) = %v", k.ID, err)
	}
}

// checkSigningKeys compares every stored key with want, in order.
func checkSigningKeys(t *testing.T, s store.Store, want ...store.SigningKey) {
	t.Helper()
	got, err := s.SigningKeys(t.Context())
	if diff := cmp.Diff(storedSigningKeys(want...), got); err != nil || diff != "" {
		t.Errorf("SigningKeys() = %v; mismatch (-want +got):\n%s", err, diff)
	}
}

func testSigningKeyRoundTrip(t *testing.T, s store.Store) {
	cases := []struct {
		name   string
		modify func(k *store.SigningKey)
	}{
		{"all fields", func(k *store.SigningKey) {}},
		{"zero times", func(k *store.SigningKey) {
			k.Created, k.ActiveUntil, k.RetireAt = time.Time{}, time.Time{}, time.Time{}
		}},
		{"UTC microsecond times", func(k *store.SigningKey) { k.ActiveUntil = time.UnixMicro(1741064767123456).UTC() }},
		{"empty keys", func(k *store.SigningKey) { k.Private, k.Public = []byte{}, []byte{} }},
		{"nil keys", func(k *store.SigningKey) { k.Private, k.Public = nil, nil }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newSigningKey(i)
			tc.modify(&k)
			mustCreateSigningKey(t, s, k)
			got, err := s.SigningKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := storedSigningKeys(k)[0]
			for _, g := range got {
				if g.ID != k.ID {
					continue
				}
				if diff := cmp.Diff(want, g); diff != "" {
					t.Errorf("SigningKeys() key %s mismatch (-want +got):\n%s", k.ID, diff)
				}
				return
			}
			t.Errorf("SigningKeys() = %d keys without %s", len(got), k.ID)
		})
	}
}

// testSigningKeyOrder creates keys out of order, with a tie in Created that
// only normalisation reveals and a zero Created, which sorts first.
func testSigningKeyOrder(t *testing.T, s store.Store) {
	at := func(i int, created time.Time) store.SigningKey {
		k := newSigningKey(i)
		k.Created = created
		return k
	}
	t0 := baseTime()
	k1 := at(1, t0.Add(2*time.Hour))
	k2 := at(2, t0.Add(time.Hour+100*time.Nanosecond)) // equals k3's once truncated
	k3 := at(3, t0.Add(time.Hour).UTC())
	k4 := at(4, t0)
	k9 := at(9, time.Time{})
	for _, k := range []store.SigningKey{k3, k1, k9, k4, k2} {
		mustCreateSigningKey(t, s, k)
	}
	checkSigningKeys(t, s, k9, k4, k2, k3, k1)
}

func testSigningKeyConflict(t *testing.T, s store.Store) {
	first := newSigningKey(1)
	mustCreateSigningKey(t, s, first)
	again := newSigningKey(2)
	again.ID = first.ID
	err := s.CreateSigningKey(t.Context(), again)
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSigningKey(duplicate %s) = %v, want ErrConflict", again.ID, err)
	}
	checkNoLeak(t, err, again.Private)
	checkSigningKeys(t, s, first)
}

func testSigningKeyDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k1, k2 := newSigningKey(1), newSigningKey(2)
	mustCreateSigningKey(t, s, k1)
	mustCreateSigningKey(t, s, k2)
	if err := s.DeleteSigningKey(ctx, k1.ID); err != nil {
		t.Fatalf("DeleteSigningKey(%s) = %v", k1.ID, err)
	}
	checkSigningKeys(t, s, k2)
	for _, id := range []string{k1.ID, "missing"} {
		if err := s.DeleteSigningKey(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSigningKey(%s) = %v, want ErrNotFound", id, err)
		}
	}
	checkSigningKeys(t, s, k2)
	mustCreateSigningKey(t, s, k1) // the id is free again
	checkSigningKeys(t, s, k1, k2)
}

func testSigningKeyNone(t *testing.T, s store.Store) {
	got, err := s.SigningKeys(t.Context())
	if len(got) != 0 || err != nil {
		t.Errorf("SigningKeys() of an empty store = %d keys, %v; want none", len(got), err)
	}
}
