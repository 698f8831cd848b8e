package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

// The race cases of secretStateCases: writers of one secret that commit in
// either order must leave it in a state one of those orders explains.

// raceRounds is how many secrets the race cases try, each with fresh writers.
const raceRounds = 20

// testSecretCreateRacesDelete races three CreateSecretVersion calls with a
// DeleteSecret on one secret. The delete always succeeds; each create either
// succeeded before it, and its version stays in the deleted secret, or was
// refused with ErrConflict; the secret never ends up active, and no version
// appears that no create acknowledged.
func testSecretCreateRacesDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range raceRounds {
		name := fmt.Sprintf("race-%d", round)
		mustCreate(t, s, newSecret("vault", name, version(0)))
		since, err := s.LatestChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		createErrs := make([]error, 3)
		for i := range createErrs {
			wg.Go(func() {
				<-start
				createErrs[i] = s.CreateSecretVersion(ctx, newSecret("vault", name, version(i+1)))
			})
		}
		var deleteErr error
		wg.Go(func() {
			<-start
			deleteErr = s.DeleteSecret(ctx, "vault", name, deleteAt(round), purgeAt(round))
		})
		close(start)
		wg.Wait()
		if deleteErr != nil {
			t.Fatalf("round %d: DeleteSecret = %v", round, deleteErr)
		}
		want := []string{version(0)}
		for i, err := range createErrs {
			switch {
			case err == nil:
				want = append(want, version(i+1))
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("round %d: CreateSecretVersion(%s) = %v, want nil or ErrConflict", round, version(i+1), err)
			}
		}
		sec := mustSecret(t, s, "vault", name)
		if sec.Deleted.IsZero() || !slices.Contains(want, sec.CurrentVersion) || len(want) > 1 && sec.CurrentVersion == version(0) {
			t.Errorf("round %d: Secret = %+v with versions %q acknowledged, want it deleted with one of them current", round, sec, want)
		}
		if got := versionsOf(t, s, "vault", name); !slices.Equal(got, want) {
			t.Errorf("round %d: SecretVersions = %q, want the acknowledged %q", round, got, want)
		}
		if err := s.CreateSecretVersion(ctx, newSecret("vault", name, version(9))); !errors.Is(err, store.ErrConflict) {
			t.Errorf("round %d: CreateSecretVersion after the race = %v, want ErrConflict", round, err)
		}
		if cs := readChanges(t, s, since); len(cs) != len(want) { // one per acknowledged create, one for the delete
			t.Errorf("round %d: %d changes recorded, want %d", round, len(cs), len(want))
		}
	}
}

// testSecretCreateRacesPurge races CreateSecretVersion with PurgeSecret on a
// deleted secret: the purge always succeeds, and the create either is
// refused, leaving nothing, or comes after it and starts a new secret that
// has only its version.
func testSecretCreateRacesPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range raceRounds {
		name := fmt.Sprintf("race-%d", round)
		mustCreate(t, s, newSecret("vault", name, version(0)))
		mustDelete(t, s, "vault", name, round)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var createErr, purgeErr error
		wg.Go(func() { <-start; createErr = s.CreateSecretVersion(ctx, newSecret("vault", name, version(1))) })
		wg.Go(func() { <-start; purgeErr = s.PurgeSecret(ctx, "vault", name) })
		close(start)
		wg.Wait()
		if purgeErr != nil {
			t.Fatalf("round %d: PurgeSecret = %v", round, purgeErr)
		}
		switch {
		case errors.Is(createErr, store.ErrConflict):
			checkGone(t, s, "vault", name, version(0), version(1))
		case createErr == nil:
			checkState(t, s, store.Secret{Vault: "vault", Name: name, CurrentVersion: version(1), Created: store.Time(baseTime())})
			if got := versionsOf(t, s, "vault", name); !slices.Equal(got, []string{version(1)}) {
				t.Errorf("round %d: SecretVersions = %q, want only the new %q", round, got, version(1))
			}
		default:
			t.Errorf("round %d: CreateSecretVersion = %v, want nil or ErrConflict", round, createErr)
		}
	}
}
