package account_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/review"
)

// TestReviewKeys: the access review reports an account's keys that were not
// rotated in its period, naming the command that rotates them, and not a
// key regenerated since.
func TestReviewKeys(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.create("aoai", "")
	e.clock.Advance(40 * 24 * time.Hour)
	if _, err := e.accounts.RegenerateKey(ctx, e.admin, "aoai", "key2"); err != nil {
		t.Fatal(err)
	}
	var keys []review.Key
	if err := e.accounts.ReviewKeys(ctx, func(k review.Key) { keys = append(keys, k) }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "/hubs/default/accounts/aoai/keys/key1" || keys[0].Scope != "/hubs/default/accounts/aoai" ||
		!keys[1].Created.Equal(e.clock.Now()) {
		t.Fatalf("ReviewKeys = %+v", keys)
	}
	rev, err := review.New(review.Options{Store: e.db, Access: e.access, KeySources: []review.KeySource{e.accounts.ReviewKeys}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := rev.Review(ctx, 30, "/hubs/default/accounts/aoai")
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, f := range fs {
		if f.Kind == review.StaleKey {
			stale = append(stale, f.Subject)
			if !strings.Contains(f.Suggestion, "latchkey cognitiveservices account keys rotate --name aoai") {
				t.Errorf("the finding's suggestion %q does not name the rotation", f.Suggestion)
			}
		}
	}
	if len(stale) != 1 || stale[0] != "/hubs/default/accounts/aoai/keys/key1" {
		t.Errorf("stale keys = %v, want key1 alone", stale)
	}
}
