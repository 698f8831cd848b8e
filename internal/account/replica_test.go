package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// replica is an account service on its own connection to the database, with
// a follower that reports how far it applied the feed, as each server
// process has.
func (e *env) replica(id string, sync func(context.Context) error, edit ...func(*account.Options)) (*account.Service, *store.Follower) {
	e.t.Helper()
	db := openDB(e.t, e.path)
	seq, err := db.LatestChange(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	feed := store.NewFollower(db, seq)
	feed.ReportTo(db, id, time.Now)
	svc := e.newAccounts(db, func(o *account.Options) {
		o.Feed, o.Sync = feed, sync
		for _, f := range edit {
			f(o)
		}
	})
	run(e.t, func(ctx context.Context) error {
		feed.Run(ctx, time.Second, func(error) {})
		return nil
	})
	if err := feed.CatchUp(context.Background()); err != nil { // reports: the barrier knows it from now on
		e.t.Fatal(err)
	}
	return svc, feed
}

// barrier returns the Sync of a writer on db: wait until every live replica
// applied every change.
func barrier(db *sqlite.DB) func(context.Context) error {
	b := store.NewBarrier(db, db, time.Now)
	b.Timeout = 10 * time.Second
	return func(ctx context.Context) error {
		_, err := b.Wait(ctx)
		return err
	}
}

// TestRegenerateOnEveryReplica: a key regenerated on one replica is refused
// by another on the very next request, with no waiting: the regeneration
// answers only once every live replica has applied it. So are the tokens
// minted from it, while the other key goes on working.
func TestRegenerateOnEveryReplica(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	writer, _ := e.replica("writer", barrier(e.db))
	reader, _ := e.replica("reader", nil)
	if _, _, err := writer.Put(ctx, e.admin, "default", "aoai", account.Spec{}); err != nil {
		t.Fatal(err)
	}
	ks, err := writer.ListKeys(ctx, e.admin, "aoai")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := reader.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1")
		if err != nil {
			t.Fatalf("the reader, key1 = %v", err)
		}
		tok, _, err := reader.IssueToken(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reader.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1"); err != nil {
			t.Fatalf("the reader, a token of key1 = %v", err)
		}
		if _, err := writer.RegenerateKey(ctx, e.admin, "aoai", store.Key1); err != nil {
			t.Fatal(err)
		}
		_, err = reader.AuthenticateKey(ctx, "aoai", ks.Key1.Reveal(), "10.0.0.1")
		wantKind(t, "the reader, the regenerated key1 right after", err, errs.Unauthenticated)
		_, err = reader.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1")
		wantKind(t, "the reader, a token of the regenerated key1 right after", err, errs.Unauthenticated)
		if _, err := reader.AuthenticateKey(ctx, "aoai", ks.Key2.Reveal(), "10.0.0.1"); err != nil {
			t.Errorf("the reader, key2 = %v", err)
		}
		if ks, err = writer.ListKeys(ctx, e.admin, "aoai"); err != nil {
			t.Fatal(err)
		}
	}
}
