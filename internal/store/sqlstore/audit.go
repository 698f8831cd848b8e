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
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Audit = (*DB)(nil)

// The audit trail is two tables: audit_batches, one row per appended batch
// (its number, its events' Seq range, the chain head before and after it,
// when it was committed), and audit_events. Appends do not go through inTx:
// they record no change, since no replica caches the trail.
//
// Writers in several processes never fork the chain: an append reads the
// newest batch in its transaction and stores nothing unless the new batch
// extends it, and the batch number is the primary key, so of two
// transactions that both read batch N and append N+1 one commits and the
// other finds the key taken (PostgreSQL makes it wait for the first to end)
// and stores nothing. SQLite's writers take turns from BEGIN IMMEDIATE, so
// there the check alone suffices.

// auditEventColumns are the columns of audit_events that make a
// store.AuditEvent, in the order scanAuditEvent reads them.
const auditEventColumns = `seq, batch, at, correlation_id, principal_id, principal_type, principal_name,
	auth_method, client_ip, operation, scope, result, status, reason, hash`

// auditEventArity is the number of columns in auditEventColumns.
const auditEventArity = 15

// auditBatchColumns are the columns of audit_batches that make a
// store.AuditBatch, in the order scanAuditBatch reads them.
const auditBatchColumns = `batch, first_seq, last_seq, prev, hash, committed`

// auditInsertRows is the most events one INSERT statement carries. The
// statements are prepared once per row count (parsing one cost more than
// running it) and, on SQLite, use anonymous parameters (Dialect.AnonymousParams),
// so a larger statement costs no more per event to bind; fewer statements
// then mean fewer round trips on PostgreSQL and fewer VM setups on SQLite.
// Of the sizes measured (docs/benchmarks.md), 32 rows (480 parameters) gave
// both databases their best figures or close to them.
const auditInsertRows = 32

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
		res, err := tx.StmtContext(ctx, batchStmt).ExecContext(ctx,
			b.Batch, b.FirstSeq, b.LastSeq, bytesIn(b.Prev), bytesIn(b.Hash), b.Committed.UnixMicro())
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
		for chunk := range slices.Chunk(events, auditInsertRows) {
			if err := d.insertAuditEvents(ctx, tx, chunk); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
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

// insertAuditEvents inserts events (at most auditInsertRows) with one
// statement, prepared once per number of rows and reused: the audit trail is
// appended to on every request, and parsing a 120-parameter INSERT cost more
// than running it.
func (d *DB) insertAuditEvents(ctx context.Context, tx *sql.Tx, events []store.AuditEvent) error {
	stmt, err := d.auditInsert(ctx, len(events))
	if err != nil {
		return err
	}
	args := make([]any, 0, len(events)*auditEventArity)
	for _, e := range events {
		args = append(args, e.Seq, e.Batch, e.Time.UnixMicro(), e.CorrelationID, e.PrincipalID,
			e.PrincipalType, e.PrincipalName, e.AuthMethod, e.ClientIP, e.Operation, e.Scope, e.Result,
			e.Status, e.Reason, bytesIn(e.Hash))
	}
	if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("insert events %d..%d: %w", events[0].Seq, events[len(events)-1].Seq, err)
	}
	return nil
}

// auditInsert returns the prepared INSERT of rows audit events.
func (d *DB) auditInsert(ctx context.Context, rows int) (*sql.Stmt, error) {
	d.stmtMu.Lock()
	defer d.stmtMu.Unlock()
	if st := d.auditInserts[rows]; st != nil {
		return st, nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO audit_events (` + auditEventColumns + `) VALUES `)
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range auditEventArity {
			if c > 0 {
				q.WriteString(", ")
			}
			if d.dialect.AnonymousParams {
				q.WriteByte('?')
			} else {
				fmt.Fprintf(&q, "$%d", i*auditEventArity+c+1)
			}
		}
		q.WriteByte(')')
	}
	st, err := d.db.PrepareContext(ctx, q.String())
	if err != nil {
		return nil, fmt.Errorf("prepare the insert of %d audit events: %w", rows, err)
	}
	d.auditInserts[rows] = st
	return st, nil
}

// The statements every append runs once, prepared once (auditStmt): the
// head's read and the batch's INSERT, which does nothing when a concurrent
// writer took the batch's number.
const (
	auditHeadQuery   = `SELECT batch, last_seq, hash FROM audit_batches ORDER BY batch DESC LIMIT 1`
	auditBatchInsert = `INSERT INTO audit_batches (` + auditBatchColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (batch) DO NOTHING`
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
		return nil, "", fmt.Errorf("list audit events %+v: %w", f, err)
	}
	return events, next, nil
}

func (d *DB) auditEvents(ctx context.Context, f store.AuditFilter, p store.Page) ([]store.AuditEvent, string, error) {
	where := auditConditions(f)
	order := "seq"
	if f.Newest {
		order = "seq DESC"
	}
	if p.After != "" {
		key, err := decodeCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		after, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("page cursor is not one this store issued: %w", store.ErrInvalid)
		}
		if f.Newest {
			where.add("seq < $%d", after)
		} else {
			where.add("seq > $%d", after)
		}
	}
	limit := pageLimit(p.Limit)
	query := `SELECT ` + auditEventColumns + ` FROM audit_events`
	if len(where.terms) > 0 {
		query += ` WHERE ` + strings.Join(where.terms, " AND ")
	}
	where.args = append(where.args, limit+1) // one row more tells whether a page follows
	query += fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(where.args))
	rows, err := d.db.QueryContext(ctx, query, where.args...)
	if err != nil {
		return nil, "", err
	}
	events, err := scanAll(rows, scanAuditEvent)
	if err != nil {
		return nil, "", err
	}
	events, next := pageOf(events, limit, func(e store.AuditEvent) string { return strconv.FormatInt(e.Seq, 10) })
	return events, next, nil
}

// auditConditions turns f into the conditions of a listing. Prefixes are
// compared with substr, which counts characters on both databases, so that
// LIKE's wildcards and SQLite's case-insensitive LIKE play no part.
func auditConditions(f store.AuditFilter) conditions {
	var c conditions
	c.equal("principal_id", f.PrincipalID)
	if f.Operation != "" {
		c.args = append(c.args, f.Operation, utf8.RuneCountInString(f.Operation))
		c.terms = append(c.terms, fmt.Sprintf("substr(operation, 1, $%d) = $%d", len(c.args), len(c.args)-1))
	}
	if scope := strings.TrimSuffix(f.Scope, "/"); scope != "" {
		below := scope + "/"
		c.args = append(c.args, scope, below, utf8.RuneCountInString(below))
		n := len(c.args)
		c.terms = append(c.terms, fmt.Sprintf("(scope = $%d OR substr(scope, 1, $%d) = $%d)", n-2, n, n-1))
	}
	c.equal("result", f.Result)
	if !f.Since.IsZero() {
		// Events have no index by time. Every event of a batch is at or before
		// its commit time, so none at or after Since lies before the first
		// batch committed since then (audit_batches_committed finds it).
		since := ceilMicros(f.Since)
		c.add("at >= $%d", since)
		c.add("seq >= COALESCE((SELECT MIN(first_seq) FROM audit_batches WHERE committed >= $%d), 9223372036854775807)", since)
	}
	if !f.Until.IsZero() {
		c.add("at < $%d", ceilMicros(f.Until))
	}
	return c
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
		if deleted, err = execCount(ctx, tx, `DELETE FROM audit_events WHERE seq < $1`, firstKept); err != nil {
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
