package store

import (
	"context"
	"time"
)

// Change records that something a cache may hold was written: every write
// method of Secrets, Principals, Credentials, SigningKeys, Resources,
// RoleDefinitions, RoleAssignments, EligibleAssignments and AccountKeys
// appends one in the same transaction as the write, so no replica misses a
// change even if it was down when it happened.
type Change struct {
	Seq   int64  // increases with every change
	Topic string // the aggregate: one of the Topic constants
	Key   string // what changed: a principal id, a scope, a role id, ...
	At    time.Time
}

// Change topics, with the Key each carries.
const (
	TopicPrincipal          = "principal"          // principal id (also for its credentials)
	TopicSigningKey         = "signingKey"         // key id
	TopicResource           = "resource"           // scope
	TopicRoleDefinition     = "roleDefinition"     // role id
	TopicRoleAssignment     = "roleAssignment"     // principal id
	TopicEligibleAssignment = "eligibleAssignment" // principal id
	TopicSecret             = "secret"             // "{vault}/{name}"
	TopicAccountKey         = "accountKey"         // account name
)

// Changes is the change feed that keeps per-replica caches in step.
type Changes interface {
	// ChangesSince returns up to limit changes with Seq > after, oldest first.
	ChangesSince(ctx context.Context, after int64, limit int) ([]Change, error)
	// LatestChange returns the highest Seq, or 0 when there is none.
	LatestChange(ctx context.Context) (int64, error)
	// PruneChanges deletes changes recorded before before.
	PruneChanges(ctx context.Context, before time.Time) error
	// ChangeSignal returns a channel that receives a value whenever changes may
	// have been appended, by this process or another, until ctx is done. A
	// receiver then reads ChangesSince. Signals may be spurious or coalesced;
	// a backend without push notification polls.
	ChangeSignal(ctx context.Context) <-chan struct{}
}
