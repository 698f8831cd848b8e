package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Replicas = (*DB)(nil)

// ReportApplied records that replica id has applied every change up to seq.
func (d *DB) ReportApplied(ctx context.Context, id string, seq int64, at time.Time) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO replicas (id, applied_seq, seen) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq, seen = excluded.seen`,
		id, seq, store.Time(at).UnixMicro())
	if err != nil {
		return fmt.Errorf("report replica %s at change %d: %w", id, seq, err)
	}
	return nil
}

// LaggingReplicas returns the live replicas that have not applied seq yet.
func (d *DB) LaggingReplicas(ctx context.Context, seq int64, aliveSince time.Time) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id FROM replicas WHERE applied_seq < $1 AND seen >= $2 ORDER BY id`,
		seq, store.Time(aliveSince).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list replicas behind change %d: %w", seq, err)
	}
	ids, err := scanAll(rows, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("list replicas behind change %d: %w", seq, err)
	}
	return ids, nil
}

// ForgetReplica removes a replica's record.
func (d *DB) ForgetReplica(ctx context.Context, id string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM replicas WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget replica %s: %w", id, err)
	}
	return nil
}
