package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Changes = (*DB)(nil)

// changePollInterval is how often ChangeSignal reads the newest change when
// the dialect cannot listen for notifications (SQLite), so that processes
// sharing a file also see each other's writes.
const changePollInterval = 250 * time.Millisecond

// appendChange records in tx that key of topic changed at at. It must be the
// last statement of tx but for other appendChange calls: on PostgreSQL it
// takes the dialect's ChangeLock, which other writers wait for until tx ends,
// and a transaction that waited for a row lock while holding it could
// deadlock. The dialect's Notify runs too, and wakes other processes when tx
// commits; inTx wakes this process's subscribers.
func (d *DB) appendChange(ctx context.Context, tx *sql.Tx, topic, key string, at time.Time) error {
	if d.dialect.ChangeLock != "" {
		if _, err := tx.ExecContext(ctx, d.dialect.ChangeLock); err != nil {
			return fmt.Errorf("record %s change of %s: lock the change feed: %w", topic, key, err)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (topic, key, at) VALUES ($1, $2, $3)`,
		topic, key, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("record %s change of %s: %w", topic, key, err)
	}
	if d.dialect.Notify != "" {
		if _, err := tx.ExecContext(ctx, d.dialect.Notify); err != nil {
			return fmt.Errorf("record %s change of %s: notify: %w", topic, key, err)
		}
	}
	return nil
}

// ChangesSince returns up to limit changes with Seq > after, oldest first.
// The limit follows store.Page's rules: <= 0 means store.DefaultPageLimit,
// and it is at most store.MaxPageLimit.
func (d *DB) ChangesSince(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, topic, key, at FROM changes
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list changes since %d: %w", after, err)
	}
	cs, err := scanAll(rows, scanChange)
	if err != nil {
		return nil, fmt.Errorf("list changes since %d: %w", after, err)
	}
	return cs, nil
}

// LatestChange returns the highest Seq, or 0 when there is none.
func (d *DB) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the latest change: %w", err)
	}
	return seq, nil
}

// PruneChanges deletes changes recorded before before. Seq values are never
// reused, so a reader's position stays valid after a prune.
func (d *DB) PruneChanges(ctx context.Context, before time.Time) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM changes WHERE at < $1`, before.UnixMicro()); err != nil {
		return fmt.Errorf("prune changes before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// ChangeSignal returns a channel that receives a value whenever changes may
// have been appended, by this process or another, until ctx is done or the
// DB is closed; then it is closed. One signal comes as soon as it watches,
// since a change may have come between the caller's last read and the call.
// Writes through this DB signal at once; others' are heard through the
// dialect's Listen, or by polling the newest change every 250 ms. Signals
// never block a writer: the channel holds one, and more coalesce into it.
func (d *DB) ChangeSignal(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default: // one is pending already
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	d.subscribe(ch, cancel)
	d.watchers.Add(1)
	go func() {
		defer d.watchers.Done()
		defer close(ch)
		defer d.unsubscribe(ch) // before close: no write may send on a closed channel
		defer cancel()
		if d.dialect.Listen != nil {
			d.dialect.Listen(ctx, d.db, signal)
			return
		}
		d.pollChanges(ctx, signal)
	}()
	return ch
}

// pollChanges calls signal once, then whenever the newest change's Seq has
// grown, until ctx is done. A failed read is retried at the next tick.
func (d *DB) pollChanges(ctx context.Context, signal func()) {
	last, _ := d.LatestChange(ctx) // on failure 0, so the next success signals
	signal()
	ticker := time.NewTicker(changePollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		seq, err := d.LatestChange(ctx)
		if err != nil {
			continue
		}
		if seq > last {
			signal()
		}
		last = seq
	}
}

func (d *DB) subscribe(ch chan struct{}, cancel context.CancelFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subscribers[ch] = cancel
}

func (d *DB) unsubscribe(ch chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.subscribers, ch)
}

// signalSubscribers wakes every ChangeSignal channel of this DB without
// blocking: a channel with a signal pending keeps just that one.
func (d *DB) signalSubscribers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subscribers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// scanChange reads seq, topic, key and at of one row.
func scanChange(s scanner) (store.Change, error) {
	var (
		c  store.Change
		at int64
	)
	if err := s.Scan(&c.Seq, &c.Topic, &c.Key, &at); err != nil {
		return store.Change{}, err
	}
	c.At = time.UnixMicro(at).UTC()
	return c, nil
}
