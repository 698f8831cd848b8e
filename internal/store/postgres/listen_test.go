package postgres

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres/pgtest"
	"github.com/latchkey/latchkey/internal/store/storetest"
)

// TestShared runs the cases of two stores on one database, as two replicas
// have: they hear of each other's changes through LISTEN/NOTIFY.
func TestShared(t *testing.T) {
	dsn := testDSN(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		schema := pgtest.FreshSchema(t, dsn)
		return openMigrated(t, schema), openDB(t, schema)
	})
}

// signalTimeout bounds the wait for a signal or a reconnection.
const signalTimeout = 10 * time.Second

// TestListenReconnects ends the listener's connection from the server side:
// the listener must connect again, signal that it may have missed changes,
// and hear the next change.
func TestListenReconnects(t *testing.T) {
	app := "lk_listen_" + strings.ToLower(rand.Text())
	dsn := withParam(t, pgtest.FreshSchema(t, testDSN(t)), "application_name", app)
	writer, reader := openMigrated(t, dsn), openDB(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sig := reader.ChangeSignal(ctx)
	waitSignal(t, sig, "watching")
	first := listenerPID(t, writer, app, 0)

	drainSignal(sig)
	create(t, writer, "key-1")
	waitSignal(t, sig, "after a write")

	drainSignal(sig)
	if _, err := writer.sql.ExecContext(t.Context(), `SELECT pg_terminate_backend($1)`, first); err != nil {
		t.Fatalf("terminate the listener's backend %d: %v", first, err)
	}
	waitSignal(t, sig, "after the listener's connection ended")
	listenerPID(t, writer, app, first)

	drainSignal(sig)
	create(t, writer, "key-2")
	waitSignal(t, sig, "after a write, reconnected")
	if stats := reader.sql.Stats(); stats.InUse != 1 {
		t.Errorf("the reader holds %d connections, want only the listener's", stats.InUse)
	}

	// Once the subscription ends, its connection is closed, not pooled.
	cancel()
	for range sig {
	}
	deadline := time.Now().Add(signalTimeout)
	for listeners(t, writer, app) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a connection of %s still listens for changes %v after the subscription ended", app, signalTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listeners counts app's connections whose last statement was the LISTEN.
func listeners(t *testing.T, db *DB, app string) int {
	t.Helper()
	var n int
	err := db.sql.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND query = $2`, app, "LISTEN "+changeChannel).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// withParam returns dsn, a URL, with the query parameter key set to value.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("the test DSN must be a URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// listenerPID waits for the backend of app's connection that LISTENs for
// changes, other than not (0 for any), and returns its process id.
func listenerPID(t *testing.T, db *DB, app string, not int) int {
	t.Helper()
	deadline := time.Now().Add(signalTimeout)
	for time.Now().Before(deadline) {
		var pid int
		err := db.sql.QueryRowContext(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND query = $2 AND pid <> $3`,
			app, "LISTEN "+changeChannel, not).Scan(&pid)
		if err == nil {
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no connection of %s listens for changes (other than backend %d)", app, not)
	return 0
}

func create(t *testing.T, db *DB, kid string) {
	t.Helper()
	if err := db.CreateSigningKey(t.Context(), store.SigningKey{ID: kid, Algorithm: "ES256"}); err != nil {
		t.Fatalf("CreateSigningKey(%s) = %v", kid, err)
	}
}

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

func drainSignal(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
