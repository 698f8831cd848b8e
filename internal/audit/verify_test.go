package audit_test

import (
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

// TestVerifyChangedByte changes one byte of each column of one stored
// event, through SQL on the database file, and checks that Verify names
// that event; with the byte restored, the chain verifies again.
func TestVerifyChangedByte(t *testing.T) {
	st, path := newStore(t)
	writeTrail(t, st, 50)
	raw := rawDB(t, path)
	const seq = 20 // in batch 3 (events 15..21)
	columns := []string{"seq", "batch", "at", "correlation_id", "principal_id", "principal_type", "principal_name",
		"auth_method", "client_ip", "operation", "scope", "result", "status", "reason", "hash"}
	for _, column := range columns {
		t.Run(column, func(t *testing.T) {
			var before any
			if err := raw.QueryRowContext(t.Context(), `SELECT `+column+` FROM audit_events WHERE seq = $1`, seq).Scan(&before); err != nil {
				t.Fatal(err)
			}
			after, key := flipByte(t, before), int64(seq)
			mustExec(t, raw, `UPDATE audit_events SET `+column+` = $1 WHERE seq = $2`, after, seq)
			if column == "seq" {
				key = after.(int64)
			}
			defer mustExec(t, raw, `UPDATE audit_events SET `+column+` = $1 WHERE seq = $2`, before, key)
			v, err := audit.Verify(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			if v.Intact() || v.Broken.Seq != seq || v.Broken.Batch != 3 {
				t.Fatalf("Verify after changing %s of event %d from %v to %v = %+v, want a break at event %d of batch 3",
					column, seq, before, after, v.Broken, seq)
			}
			t.Logf("%s: %s", column, v.Broken)
		})
		mustVerify(t, st)
	}
}

// flipByte returns v with one byte changed: the lowest bit of a text's
// middle byte (ASCII stays ASCII), of a blob's first byte, or of an
// integer's second byte (so that a seq moves past every other).
func flipByte(t *testing.T, v any) any {
	t.Helper()
	switch v := v.(type) {
	case int64:
		return v ^ 0x100
	case string:
		b := []byte(v)
		b[len(b)/2] ^= 1
		return string(b)
	case []byte:
		b := append([]byte(nil), v...)
		b[0] ^= 1
		return b
	}
	t.Fatalf("column value %v of type %T", v, v)
	return nil
}

// TestVerifyTampered removes, adds and rewrites rows, and checks where
// Verify says the chain breaks.
func TestVerifyTampered(t *testing.T) {
	cases := []struct {
		name      string
		sql       string
		seq       int64
		batch     int64
		reasonHas string
	}{
		{"event deleted", `DELETE FROM audit_events WHERE seq = 20`, 20, 3, "missing"},
		{"last event deleted", `DELETE FROM audit_events WHERE seq = 50`, 50, 8, "missing"},
		{"event added before the trail", `INSERT INTO audit_events SELECT 0, batch, at, correlation_id, principal_id,
			principal_type, principal_name, auth_method, client_ip, operation, scope, result, status, reason, hash
			FROM audit_events WHERE seq = 1`, 0, 1, "outside every batch"},
		{"events swapped", `UPDATE audit_events SET seq = CASE seq WHEN 16 THEN 17 ELSE 16 END + 1000 WHERE seq IN (16, 17);
			UPDATE audit_events SET seq = seq - 1000 WHERE seq > 1000`, 16, 3, "do not match"},
		{"batch deleted", `DELETE FROM audit_batches WHERE batch = 3`, 15, 3, "batch 3 is missing"},
		{"batch and its events deleted", `DELETE FROM audit_batches WHERE batch = 3; DELETE FROM audit_events WHERE batch = 3`,
			15, 3, "batch 3 is missing"},
		{"batch prev changed", `UPDATE audit_batches SET prev = hash WHERE batch = 3`, 15, 3, "names head"},
		{"batch hash changed", `UPDATE audit_batches SET hash = prev WHERE batch = 3`, 21, 3, "not its last event's"},
		{"batch shortened", `UPDATE audit_batches SET last_seq = 20 WHERE batch = 3`, 20, 3, "not its last event's"},
		{"batch starts later", `UPDATE audit_batches SET first_seq = 16 WHERE batch = 3`, 15, 3, "starts at event 16"},
		{"oldest batch's prev changed", `UPDATE audit_batches SET prev = X'00' WHERE batch = 1`, 1, 1, "do not match"},
		{"first event changed", `UPDATE audit_events SET reason = 'x' WHERE seq = 1`, 1, 1, "do not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, path := newStore(t)
			writeTrail(t, st, 50)
			raw := rawDB(t, path)
			for _, q := range strings.Split(tc.sql, ";") {
				mustExec(t, raw, q)
			}
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
