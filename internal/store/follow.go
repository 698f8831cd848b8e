package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// followBatch is how many changes a Follower reads at a time.
const followBatch = 1000

// Follower keeps a per-replica cache in step with the change feed: it applies
// every change since the last one applied, when the feed signals and on a slow
// safety timer. Fresh lets a request catch up synchronously when a signal has
// arrived that was not applied yet, so a replica does not answer from a cache
// that it already knows to be stale; at steady state Fresh costs one atomic
// load. A Follower is safe for concurrent use.
type Follower struct {
	changes Changes
	apply   func(ctx context.Context, cs []Change) error

	mu      sync.Mutex // serialises catch-ups
	seq     atomic.Int64
	pending atomic.Bool // a signal arrived since the last catch-up began
}

// NewFollower returns a Follower that has applied every change up to from and
// applies later ones with apply.
func NewFollower(changes Changes, from int64, apply func(ctx context.Context, cs []Change) error) *Follower {
	f := &Follower{changes: changes, apply: apply}
	f.seq.Store(from)
	return f
}

// Seq returns the last change applied.
func (f *Follower) Seq() int64 { return f.seq.Load() }

// Run follows the feed until ctx is done. Errors of a catch-up go to onError;
// the next signal or tick retries.
func (f *Follower) Run(ctx context.Context, safety time.Duration, onError func(error)) {
	signal := f.changes.ChangeSignal(ctx)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // marks a signal pending the moment it arrives
		defer wg.Done()
		for range signal {
			f.pending.Store(true)
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	defer wg.Wait()
	tick := time.NewTicker(safety)
	defer tick.Stop()
	for {
		if err := f.CatchUp(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// Fresh catches up if a signal arrived that was not applied yet.
func (f *Follower) Fresh(ctx context.Context) error {
	if !f.pending.Load() {
		return nil
	}
	return f.CatchUp(ctx)
}

// CatchUp applies every change since the last one applied.
func (f *Follower) CatchUp(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending.Store(false) // a signal from now on asks for another catch-up
	for {
		cs, err := f.changes.ChangesSince(ctx, f.seq.Load(), followBatch)
		if err != nil {
			f.pending.Store(true)
			return err
		}
		if len(cs) == 0 {
			return nil
		}
		if err := f.apply(ctx, cs); err != nil {
			f.pending.Store(true)
			return err
		}
		f.seq.Store(cs[len(cs)-1].Seq)
		if len(cs) < followBatch {
			return nil
		}
	}
}
