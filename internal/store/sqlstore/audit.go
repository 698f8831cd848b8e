package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Audit = (*DB)(nil)

// The audit trail is audit_batches, one row per appended batch: its number,
// its events' Seq range, the chain head before and after it, when it was
// committed, its earliest event's time, and its events, encoded in one blob
// (auditblob.go). Batches appended before migration 0010 have no blob: their
// events are rows of audit_events, read as they were until pruning removes
// them. Appends do not go through inTx: they record no change, since no
// replica caches the trail.
//
// Writers in several processes never fork the chain: an append reads the
// newest batch in its transaction and stores nothing unless the new batch
// extends it, and the batch number is the primary key, so of two
// transactions that both read batch N and append N+1 one commits and the
// other finds the key taken (PostgreSQL makes it wait for the first to end)
// and stores nothing. SQLite's writers take turns from BEGIN IMMEDIATE, so
// there the check alone suffices.

// auditEventColumns are the columns of audit_events (batches appended
// before 0010) that make a store.AuditEvent, in the order scanAuditEvent
// reads them.
const auditEventColumns = `seq, batch, at, correlation_id, principal_id, principal_type, principal_name,
	auth_method, client_ip, operation, scope, result, status, reason, hash`

// auditBatchColumns are the columns of audit_batches that make a
// store.AuditBatch, in the order scanAuditBatch reads them.
const auditBatchColumns = `batch, first_seq, last_seq, prev, hash, committed`

// AppendAuditBatch stores b and its events in one transaction if b extends
// the chain's head; otherwise it stores nothing and returns an error
// wrapping store.ErrConflict. A batch whose events do not match it is
// refused with a plain error.
func (d *DB) AppendAuditBatch(ctx context.Context, b store.AuditBatch, events []store.AuditEvent) error {
	op := fmt.Sprintf("append audit batch %d", b.Batch)
	if err := checkAuditBatch(b, events); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	headStmt, err := d.auditStmt(ctx, auditHeadQuery)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	batchStmt, err := d.auditStmt(ctx, auditBatchInsert)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		head, err := auditHead(ctx, tx.StmtContext(ctx, headStmt))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if head.Batch+1 != b.Batch || head.Seq+1 != b.FirstSeq || !bytes.Equal(head.Hash, b.Prev) {
			return fmt.Errorf("%s at seq %d: the head is batch %d at seq %d: %w",
				op, b.FirstSeq, head.Batch, head.Seq, store.ErrConflict)
		}
		firstAt := events[0].Time
		for _, e := range events[1:] {
			if e.Time.Before(firstAt) {
				firstAt = e.Time
			}
		}
		res, err := tx.StmtContext(ctx, batchStmt).ExecContext(ctx,
			b.Batch, b.FirstSeq, b.LastSeq, bytesIn(b.Prev), bytesIn(b.Hash), b.Committed.UnixMicro(),
			firstAt.UnixMicro(), appendAuditBlob(make([]byte, 0, 128*len(events)), events))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 { // a concurrent writer committed the same batch number first
			return fmt.Errorf("%s: another writer appended it first: %w", op, store.ErrConflict)
		}
		return nil
	})
}

// checkAuditBatch checks that events are b's, in order, with b's hash last.
func checkAuditBatch(b store.AuditBatch, events []store.AuditEvent) error {
	switch {
	case len(events) == 0:
		return errors.New("the batch has no events")
	case b.Batch < 1 || b.FirstSeq < 1:
		return fmt.Errorf("batch %d from seq %d: numbers start at 1", b.Batch, b.FirstSeq)
	case b.Committed.IsZero():
		return errors.New("its commit time is zero")
	case b.LastSeq != b.FirstSeq+int64(len(events))-1:
		return fmt.Errorf("seq %d..%d do not fit its %d events", b.FirstSeq, b.LastSeq, len(events))
	case !bytes.Equal(events[len(events)-1].Hash, b.Hash):
		return errors.New("its hash is not its last event's")
	}
	for i, e := range events {
		if e.Seq != b.FirstSeq+int64(i) || e.Batch != b.Batch {
			return fmt.Errorf("event %d of the batch is seq %d of batch %d, want seq %d of batch %d",
				i, e.Seq, e.Batch, b.FirstSeq+int64(i), b.Batch)
		}
		if e.Time.IsZero() {
			return fmt.Errorf("event %d has no time", e.Seq)
		}
		if e.Time.After(b.Committed) {
			return fmt.Errorf("event %d has a time after its batch's commit time; listings by time find events through their batches", e.Seq)
		}
	}
	return nil
}

// The statements every append runs once, prepared once (auditStmt): the
// head's read and the batch's INSERT, which does nothing when a concurrent
// writer took the batch's number.
const (
	auditHeadQuery   = `SELECT batch, last_seq, hash FROM audit_batches ORDER BY batch DESC LIMIT 1`
	auditBatchInsert = `INSERT INTO audit_batches (` + auditBatchColumns + `, first_at, events)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (batch) DO NOTHING`
)

// auditStmt returns query prepared, preparing it on first use: a
// statement of the audit writer's, which runs once per batch, and whose
// parsing cost as much as running it.
func (d *DB) auditStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	d.stmtMu.Lock()
	defer d.stmtMu.Unlock()
	if st := d.auditStmts[query]; st != nil {
		return st, nil
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %.40q: %w", query, err)
	}
	if d.auditStmts == nil {
		d.auditStmts = make(map[string]*sql.Stmt)
	}
	d.auditStmts[query] = st
	return st, nil
}

// AuditHead returns the chain's head: the newest batch's.
func (d *DB) AuditHead(ctx context.Context) (store.AuditHead, error) {
	st, err := d.auditStmt(ctx, auditHeadQuery)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read the audit head: %w", err)
	}
	h, err := auditHead(ctx, st)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read the audit head: %w", err)
	}
	return h, nil
}

// auditHead reads the head with st, the prepared auditHeadQuery.
func auditHead(ctx context.Context, st *sql.Stmt) (store.AuditHead, error) {
	var h store.AuditHead
	err := st.QueryRowContext(ctx).Scan(&h.Batch, &h.Seq, &h.Hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.AuditHead{}, nil
	case err != nil:
		return store.AuditHead{}, err
	}
	h.Hash = bytesOut(h.Hash)
	return h, nil
}

// AuditBatches returns up to limit batches numbered after after, in order.
func (d *DB) AuditBatches(ctx context.Context, after int64, limit int) ([]store.AuditBatch, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+auditBatchColumns+` FROM audit_batches
		WHERE batch > $1 ORDER BY batch LIMIT $2`, after, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list audit batches after %d: %w", after, err)
	}
	bs, err := scanAll(rows, scanAuditBatch)
	if err != nil {
		return nil, fmt.Errorf("list audit batches after %d: %w", after, err)
	}
	return bs, nil
}

// AuditEvents lists the events that match f ordered by Seq, one page at a
// time. The cursor is the last Seq of the page.
func (d *DB) AuditEvents(ctx context.Context, f store.AuditFilter, p store.Page) ([]store.AuditEvent, string, error) {
	events, next, err := d.auditEvents(ctx, f, p)
	if err != nil {
		return events, "", fmt.Errorf("list audit events %+v: %w", f, err)
	}
	return events, next, nil
}

// A listing reads batches a few at a time, from auditScanFirst, doubling
// up to auditScanMost: a page of events may fit in one large batch, or
// take many small ones.
const (
	auditScanFirst = 2
	auditScanMost  = 64
)

// auditEvents walks the batches in Seq order (or the reverse), from the
// cursor on, reading each one's events and keeping those that match f,
// until it has a page and one more. The database picks the batches: those
// after the cursor, committed at or after Since (an event is never after its
// batch's commit), and whose earliest event is before Until.
func (d *DB) auditEvents(ctx context.Context, f store.AuditFilter, p store.Page) ([]store.AuditEvent, string, error) {
	var (
		c      conditions
		after  int64 = -1 // the cursor's Seq, -1 for none
		events []store.AuditEvent
	)
	if p.After != "" {
		key, err := decodeCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		if after, err = strconv.ParseInt(key, 10, 64); err != nil || after < 0 {
			return nil, "", fmt.Errorf("page cursor is not one this store issued: %w", store.ErrInvalid)
		}
		if f.Newest {
			c.add("first_seq < $%d", after)
		} else {
			c.add("last_seq > $%d", after)
		}
	}
	var since, until int64
	if !f.Since.IsZero() {
		since = ceilMicros(f.Since)
		c.add("committed >= $%d", since)
	}
	if !f.Until.IsZero() {
		until = ceilMicros(f.Until)
		c.add("first_at < $%d", until)
	}
	scope := strings.TrimSuffix(f.Scope, "/")
	match := func(e *store.AuditEvent) bool {
		switch {
		case after >= 0 && !f.Newest && e.Seq <= after, after >= 0 && f.Newest && e.Seq >= after:
			return false
		case f.PrincipalID != "" && e.PrincipalID != f.PrincipalID,
			f.Operation != "" && !strings.HasPrefix(e.Operation, f.Operation),
			f.Result != "" && e.Result != f.Result,
			since != 0 && e.Time.UnixMicro() < since,
			until != 0 && e.Time.UnixMicro() >= until:
			return false
		}
		return scope == "" || e.Scope == scope || strings.HasPrefix(e.Scope, scope+"/")
	}
	limit := pageLimit(p.Limit)
	order, next := "batch", "batch > $%d"
	if f.Newest {
		order, next = "batch DESC", "batch < $%d"
	}
	for last, scan := int64(-1), auditScanFirst; len(events) <= limit; scan = min(2*scan, auditScanMost) {
		q := c
		if last >= 0 {
			q.add(next, last)
		}
		query := `SELECT ` + auditBatchColumns + `, events FROM audit_batches`
		if len(q.terms) > 0 {
			query += ` WHERE ` + strings.Join(q.terms, " AND ")
		}
		q.args = append(q.args, scan)
		query += fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(q.args))
		rows, err := d.db.QueryContext(ctx, query, q.args...)
		if err != nil {
			return nil, "", err
		}
		batches, err := scanAll(rows, scanAuditBatchEvents)
		if err != nil {
			return nil, "", err
		}
		for _, b := range batches {
			if len(events) > limit {
				break
			}
			bevents, err := d.batchEvents(ctx, b)
			if f.Newest {
				slices.Reverse(bevents)
			}
			for i := range bevents {
				if match(&bevents[i]) {
					events = append(events, bevents[i])
				}
			}
			if err != nil {
				// What came before the damage is listed; the rest cannot
				// be put in order past it.
				if len(events) > limit {
					events = events[:limit]
				}
				return events, "", err
			}
			last = b.Batch
		}
		if len(batches) < scan {
			break
		}
	}
	events, cursor := pageOf(events, limit, func(e store.AuditEvent) string { return strconv.FormatInt(e.Seq, 10) })
	return events, cursor, nil
}

// storedBatch is a batch as audit_batches holds it: with its events' blob,
// nil for a batch appended before 0010.
type storedBatch struct {
	store.AuditBatch
	events []byte
}

// batchEvents returns b's events in Seq order: from its blob or, for a batch
// appended before 0010, from audit_events. With a damaged blob, it returns
// the events before the damage and an *store.AuditDamage.
func (d *DB) batchEvents(ctx context.Context, b storedBatch) ([]store.AuditEvent, error) {
	if b.events != nil {
		return parseAuditBlob(b.AuditBatch, b.events)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+auditEventColumns+` FROM audit_events
		WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, b.FirstSeq, b.LastSeq)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanAuditEvent)
}

// ceilMicros returns t in unix microseconds, rounded up: a stored time,
// truncated to microseconds, is before t exactly when it is below the result.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Truncate(time.Microsecond).Before(t) {
		us++
	}
	return us
}

// PruneAudit deletes the oldest batches and their events up to the first
// batch committed at or after before, never the newest batch, in one
// transaction; it returns how many events it deleted.
func (d *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	op := "prune audit events before " + before.UTC().Format(time.RFC3339)
	headStmt, err := d.auditStmt(ctx, auditHeadQuery)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var deleted int64
	err = d.tx(ctx, op, func(tx *sql.Tx) error {
		head, err := auditHead(ctx, tx.StmtContext(ctx, headStmt))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		// keep is the oldest batch to keep: the first committed at or after
		// before, or the head. The planner walks the primary key and stops
		// there, so the cost grows with what is deleted, not with what stays.
		keep := head.Batch
		err = tx.QueryRowContext(ctx, `SELECT batch FROM audit_batches WHERE committed >= $1 ORDER BY batch LIMIT 1`,
			before.UnixMicro()).Scan(&keep)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", op, err)
		}
		keep = min(keep, head.Batch)
		var firstKept int64
		err = tx.QueryRowContext(ctx, `SELECT first_seq FROM audit_batches WHERE batch = $1`, keep).Scan(&firstKept)
		if errors.Is(err, sql.ErrNoRows) { // an empty trail
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM audit_batches WHERE batch < $1`,
			keep).Scan(&deleted)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		// The rows of batches appended before 0010.
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq < $1`, firstKept); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_batches WHERE batch < $1`, keep); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// scanAuditEvent reads the columns of auditEventColumns.
func scanAuditEvent(s scanner) (store.AuditEvent, error) {
	var (
		e  store.AuditEvent
		at int64
	)
	err := s.Scan(&e.Seq, &e.Batch, &at, &e.CorrelationID, &e.PrincipalID, &e.PrincipalType, &e.PrincipalName,
		&e.AuthMethod, &e.ClientIP, &e.Operation, &e.Scope, &e.Result, &e.Status, &e.Reason, &e.Hash)
	if err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = time.UnixMicro(at).UTC()
	e.Hash = bytesOut(e.Hash)
	return e, nil
}

// scanAuditBatchEvents reads the columns of auditBatchColumns and events.
func scanAuditBatchEvents(s scanner) (storedBatch, error) {
	var (
		b         storedBatch
		committed int64
	)
	if err := s.Scan(&b.Batch, &b.FirstSeq, &b.LastSeq, &b.Prev, &b.Hash, &committed, &b.events); err != nil {
		return storedBatch{}, err
	}
	b.Prev, b.Hash = bytesOut(b.Prev), bytesOut(b.Hash)
	b.Committed = time.UnixMicro(committed).UTC()
	return b, nil
}

// scanAuditBatch reads the columns of auditBatchColumns.
func scanAuditBatch(s scanner) (store.AuditBatch, error) {
	var (
		b         store.AuditBatch
		committed int64
	)
	if err := s.Scan(&b.Batch, &b.FirstSeq, &b.LastSeq, &b.Prev, &b.Hash, &committed); err != nil {
		return store.AuditBatch{}, err
	}
	b.Prev, b.Hash = bytesOut(b.Prev), bytesOut(b.Hash)
	b.Committed = time.UnixMicro(committed).UTC()
	return b, nil
}
