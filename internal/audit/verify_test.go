package audit_test

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver behind rawDB; the backend registers it too

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/store"
)

// rawDB opens a second, plain connection pool on the SQLite file at path, as
// someone with access to the file would, and closes it when the test ends.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeTrail stores n test events in batches of at most 7: 50 events make
// 8 batches, the last holding only event 50.
func writeTrail(t *testing.T, st store.Audit, n int) {
	t.Helper()
	w := newWriter(t, st, audit.Options{MaxBatch: 7})
	for i := range n {
		if !w.Enqueue(event(i)) {
			t.Fatalf("Enqueue(%d) dropped the event", i)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntact(t *testing.T) {
	st, _ := newStore(t)
	v := mustVerify(t, st)
	if v.Events != 0 || v.Batches != 0 || v.Head.Batch != 0 {
		t.Errorf("Verify of an empty trail = %+v, want nothing checked", v)
	}
	writeTrail(t, st, 50)
	v = mustVerify(t, st)
	if v.Events != 50 || v.Batches != 8 || v.FirstSeq != 1 || v.Head.Seq != 50 || len(v.Head.Hash) != 32 {
		t.Errorf("Verify = %+v, want 50 events in 8 batches from seq 1 to a 32-byte head", v)
	}
}

// batchEvents returns the stored bytes of batch's events, read through SQL
// on the database file.
func batchEvents(t *testing.T, raw *sql.DB, batch int64) []byte {
	t.Helper()
	var blob []byte
	if err := raw.QueryRowContext(t.Context(), `SELECT events FROM audit_batches WHERE batch = $1`, batch).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	return blob
}

// setBatchEvents replaces the stored bytes of batch's events.
func setBatchEvents(t *testing.T, raw *sql.DB, batch int64, blob []byte) {
	t.Helper()
	mustExec(t, raw, `UPDATE audit_batches SET events = $1 WHERE batch = $2`, blob, batch)
}

// TestVerifyChangedByte changes each byte of one batch's stored events in
// turn, through SQL on the database file, and checks that Verify names an
// event of that batch, moving from its first event to its last as the byte
// does and naming each; with the byte restored, the chain verifies again.
// (sqlstore's TestAuditBlobChangedByte checks that the event named is the
// one the byte belongs to.)
func TestVerifyChangedByte(t *testing.T) {
	st, path := newStore(t)
	writeTrail(t, st, 50)
	raw := rawDB(t, path)
	const batch = 3 // events 15..21
	blob := batchEvents(t, raw, batch)
	named := map[int64]bool{}
	last := int64(15)
	for off := range blob {
		changed := bytes.Clone(blob)
		changed[off] ^= 1
		setBatchEvents(t, raw, batch, changed)
		v, err := audit.Verify(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if v.Intact() || v.Broken.Batch != batch || v.Broken.Seq < last || v.Broken.Seq > 21 {
			t.Fatalf("Verify after changing byte %d of %d of batch %d = %+v, want a break at an event from %d to 21",
				off, len(blob), batch, v.Broken, last)
		}
		named[v.Broken.Seq], last = true, v.Broken.Seq
	}
	if len(named) != 7 {
		t.Errorf("the %d bytes changed one by one named events %v, want each of 15..21", len(blob), named)
	}
	setBatchEvents(t, raw, batch, blob)
	mustVerify(t, st)
}

// TestVerifyTampered removes, adds and rewrites stored batches, and checks
// where Verify says the chain breaks.
func TestVerifyTampered(t *testing.T) {
	cases := []struct {
		name      string
		edit      func(t *testing.T, raw *sql.DB)
		seq       int64
		batch     int64
		reasonHas string
	}{
		{"events cut short", func(t *testing.T, raw *sql.DB) {
			blob := batchEvents(t, raw, 3)
			setBatchEvents(t, raw, 3, blob[:len(blob)-20])
		}, 21, 3, "cannot be read"},
		{"bytes added after the events", func(t *testing.T, raw *sql.DB) {
			setBatchEvents(t, raw, 3, append(batchEvents(t, raw, 3), 0))
		}, 21, 3, "follow the batch's last event"},
		{"the newest batch's events removed", sqlEdit(`UPDATE audit_batches SET events = NULL WHERE batch = 8`), 50, 8, "missing"},
		{"a batch's events replaced by another's", sqlEdit(`UPDATE audit_batches SET events = (SELECT events FROM audit_batches WHERE batch = 2) WHERE batch = 3`),
			15, 3, "do not match"},
		{"an event's text replaced", func(t *testing.T, raw *sql.DB) {
			blob := batchEvents(t, raw, 1)
			from, to := []byte(event(0).CorrelationID), []byte(event(9).CorrelationID)
			if !bytes.Contains(blob, from) {
				t.Fatalf("batch 1's events do not hold %q", from)
			}
			setBatchEvents(t, raw, 1, bytes.Replace(blob, from, to, 1))
		}, 1, 1, "do not match"},
		{"batch deleted", sqlEdit(`DELETE FROM audit_batches WHERE batch = 3`), 15, 3, "batch 3 is missing"},
		{"batch prev changed", sqlEdit(`UPDATE audit_batches SET prev = hash WHERE batch = 3`), 15, 3, "names head"},
		{"batch hash changed", sqlEdit(`UPDATE audit_batches SET hash = prev WHERE batch = 3`), 21, 3, "not its last event's"},
		{"batch shortened", sqlEdit(`UPDATE audit_batches SET last_seq = 20 WHERE batch = 3`), 20, 3, "not its last event's"},
		{"batch starts later", sqlEdit(`UPDATE audit_batches SET first_seq = 16 WHERE batch = 3`), 15, 3, "starts at event 16"},
		{"oldest batch's prev changed", sqlEdit(`UPDATE audit_batches SET prev = X'00' WHERE batch = 1`), 1, 1, "do not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, path := newStore(t)
			writeTrail(t, st, 50)
			tc.edit(t, rawDB(t, path))
			v, err := audit.Verify(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			if v.Intact() || v.Broken.Seq != tc.seq || v.Broken.Batch != tc.batch || !strings.Contains(v.Broken.Reason, tc.reasonHas) {
				t.Errorf("Verify = %+v, want a break at event %d of batch %d saying %q", v.Broken, tc.seq, tc.batch, tc.reasonHas)
			}
		})
	}
}

// sqlEdit returns an edit that runs query.
func sqlEdit(query string) func(t *testing.T, raw *sql.DB) {
	return func(t *testing.T, raw *sql.DB) { mustExec(t, raw, query) }
}

// TestVerifyAfterPrune: what pruning leaves verifies from its oldest batch.
func TestVerifyAfterPrune(t *testing.T) {
	st, _ := newStore(t)
	writeTrail(t, st, 50)
	if n, err := st.PruneAudit(t.Context(), time.Now().Add(time.Hour)); n != 49 || err != nil {
		t.Fatalf("PruneAudit = %d, %v; want the 49 events of all batches but the newest", n, err)
	}
	v := mustVerify(t, st)
	if v.Batches != 1 || v.Events != 1 || v.FirstSeq != 50 || v.Head.Seq != 50 {
		t.Errorf("Verify after pruning = %+v, want the newest batch only, up to event 50", v)
	}
	writeTrail(t, st, 10)
	if v := mustVerify(t, st); v.Head.Seq != 60 || v.Batches != 3 {
		t.Errorf("Verify after pruning and appending = %+v, want 3 batches up to event 60", v)
	}
}
