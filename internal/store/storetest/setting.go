package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

func testSettings(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"NotFound", testSettingNotFound},
		{"FirstWriteWins", testInitSettingFirstWins},
		{"Race", testInitSettingRace},
	})
}

func testSettingNotFound(t *testing.T, s store.Store) {
	got, err := s.Setting(t.Context(), "missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Setting(%q) = %q, %v, want ErrNotFound", "missing", got, err)
	}
}

func testInitSettingFirstWins(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := []byte{0, 1, 2, 0, 'a', 0xff}
	steps := []struct {
		key   string
		value []byte
		want  []byte
	}{
		{"tenant", first, first},
		{"tenant", []byte("second"), first},
		{"other", []byte("independent"), []byte("independent")},
		{"tenant", []byte("third"), first},
		{"empty", []byte{}, nil}, // no bytes read back as nil
		{"nil", nil, nil},
	}
	for _, st := range steps {
		got, err := s.InitSetting(ctx, st.key, st.value)
		if err != nil || !sameBytes(got, st.want) {
			t.Errorf("InitSetting(%q, %q) = %q, %v, want %q", st.key, st.value, got, err, st.want)
		}
		got, err = s.Setting(ctx, st.key)
		if err != nil || !sameBytes(got, st.want) {
			t.Errorf("Setting(%q) = %q, %v, want %q", st.key, got, err, st.want)
		}
	}
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool {
	return bytes.Equal(a, b) && (a == nil) == (b == nil)
}

func testInitSettingRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const racers = 8
	got := make([][]byte, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			got[i], errs[i] = s.InitSetting(ctx, "tenant", fmt.Appendf(nil, "value-%d", i))
		})
	}
	wg.Wait()
	stored, err := s.Setting(ctx, "tenant")
	if err != nil {
		t.Fatalf("Setting(%q) after the race: %v", "tenant", err)
	}
	if !bytes.HasPrefix(stored, []byte("value-")) {
		t.Errorf("Setting(%q) = %q, want one of the racers' values", "tenant", stored)
	}
	for i := range racers {
		if errs[i] != nil || !bytes.Equal(got[i], stored) {
			t.Errorf("racer %d: InitSetting(%q) = %q, %v, want the winner's %q", i, "tenant", got[i], errs[i], stored)
		}
	}
}
