package store

import (
	"context"
	"time"
)

// Replicas records how far each running process has applied the change feed
// to its caches, so that a writer can wait until every live replica has seen
// its write before it answers (see Barrier). Reads then need no database
// round trip to be fresh.
type Replicas interface {
	// ReportApplied records that replica id has applied every change up to
	// seq, as seen at at (its heartbeat).
	ReportApplied(ctx context.Context, id string, seq int64, at time.Time) error
	// LaggingReplicas returns the ids of replicas seen at or after aliveSince
	// whose applied change is below seq.
	LaggingReplicas(ctx context.Context, seq int64, aliveSince time.Time) ([]string, error)
	// ForgetReplica removes a replica's record, when it stops.
	ForgetReplica(ctx context.Context, id string) error
}
